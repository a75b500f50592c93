//go:build scylla && integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/treetest"
)

// addNamed adds n files through the daemon, as `ipfs-cluster-ctl add
// --name NAME-file-I --metadata n=I` does, and waits until all are pinned.
func addNamed(t *testing.T, d *daemon, name string, n int) {
	t.Helper()
	ctl := d.client(t)
	// Upstream's adder sends the blocks of a pin with replication -1 to
	// the peers whose ping metric it holds: right after READY that list
	// may still be empty, and the add fails with "failed to put block on
	// all destinations". A user's first add waits the same way.
	waitUntil(t, time.Minute, "the peer's own ping metric, where the adder looks for destinations", func() bool {
		ms, err := ctl.Metrics(context.Background(), "ping")
		return err == nil && len(ms) > 0
	})
	dir := t.TempDir()
	for i := 1; i <= n; i++ {
		path := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(path, fmt.Appendf(nil, "file %d of the %s pinset %d", i, name, time.Now().UnixNano()), 0o600); err != nil {
			t.Fatal(err)
		}
		params := api.DefaultAddParams()
		params.Name = fmt.Sprintf("%s-file-%d", name, i)
		params.Metadata = map[string]string{"n": fmt.Sprint(i)}
		out := make(chan api.AddedOutput, 16)
		go func() {
			for range out {
			}
		}()
		if err := ctl.Add(context.Background(), []string{path}, params, out); err != nil {
			t.Fatal(err)
		}
	}
	waitServes(t, d, n)
}

// waitServes waits until the daemon lists n pins, all pinned, and returns
// its pin ls lines.
func waitServes(t *testing.T, d *daemon, n int) []string {
	t.Helper()
	ctl := d.client(t)
	waitUntil(t, time.Minute, fmt.Sprintf("%d pins, all pinned, through %s", n, d.dir), func() bool {
		return len(pinLines(t, ctl)) == n && pinnedEverywhere(t, ctl)
	})
	return pinLines(t, ctl)
}

// exportLines runs `state export` of the stopped peer in dir and returns
// its pins as pin ls lines.
func exportLines(t *testing.T, dir string) (string, []string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "export.json")
	mustRun(t, "-c", dir, "state", "export", "-f", file)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var p api.Pin
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, pinLine(p))
	}
	slices.Sort(lines)
	return file, lines
}

// requireLines fails unless got equals want.
func requireLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// requireReport fails unless the output of state migrate holds each line
// (the source line followed by its folder and size).
func requireReport(t *testing.T, r result, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l) + `( \(.*)?$`).MatchString(r.stdout) {
			t.Errorf("state migrate printed no line %q:\n%s\n%s", l, r.stdout, r.stderr)
		}
	}
}

// A crdt + pebble peer's pinset moves to Scylla, by `state migrate` (a
// running source refused; the source untouched; the report's counts) and
// by export/import; the migrated peer serves every pin, names and
// metadata kept, with the same identity; and the way back, by
// export/import into new crdt and raft peers, serves the same pins.
func TestCrdtPinsetMovesToScyllaAndBack(t *testing.T) {
	k := kubotest.Start(t)
	crdtDir := initPeer(t, k, nil, "--consensus", "crdt")
	crdt := startDaemon(t, crdtDir)
	crdtID, err := crdt.client(t).ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	addNamed(t, crdt, "crdt", 20)
	want := pinLines(t, crdt.client(t))

	db := cqltest.Config(t, cqltest.DefaultPrefix)
	scyllaDir := initPeer(t, k, onKeyspace(db), "--datastore", "scylla")
	raw, err := os.ReadFile(filepath.Join(crdtDir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scyllaDir, "identity.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	// A running source is refused; nothing is written.
	r := runProcess(t, "-c", scyllaDir, "state", "migrate", "--from", crdtDir)
	if r.code != 1 || r.stdout != "" || !regexp.MustCompile(`the source peer is running: process [0-9]+ holds .*`+regexp.QuoteMeta(filepath.Join(crdtDir, "cluster.lock"))).MatchString(r.stderr) {
		t.Fatalf("state migrate from a running peer: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	crdt.stop(t)
	before := treetest.Snapshot(t, crdtDir)
	work := t.TempDir()
	r = mustRun(t, "-c", scyllaDir, "state", "migrate", "--from", crdtDir, "--work-dir", work)
	requireReport(t, r,
		"source:   the crdt/pebble state of "+crdtDir,
		"pins:     20 in the source, 20 written",
		"verified: 20 present and equal, 0 missing, 0 different",
		"keyspace: 20 pins in all")
	treetest.RequireSame(t, before, treetest.Snapshot(t, crdtDir))
	if left, _ := filepath.Glob(filepath.Join(work, "ipfs-cluster-migrate-*")); len(left) != 0 {
		t.Errorf("state migrate left its copy behind: %v", left)
	}
	if strings.Contains(r.stdout+r.stderr, "\x1b") {
		t.Error("colour codes in the output of state migrate, which is not a terminal")
	}

	// export/import into another keyspace gives the same pinset.
	crdtExport, exported := exportLines(t, crdtDir)
	requireLines(t, "state export of the crdt peer", exported, want)
	importDir := initPeer(t, k, onKeyspace(cqltest.Config(t, cqltest.DefaultPrefix)), "--datastore", "scylla")
	mustRun(t, "-c", importDir, "state", "import", "-f", crdtExport)
	_, imported := exportLines(t, importDir)
	requireLines(t, "the pinset imported into scylla", imported, want)

	// The migrated peer serves every pin, all pinned, with the crdt peer's identity.
	scylla := startDaemon(t, scyllaDir)
	requireLines(t, "pin ls of the migrated scylla peer", waitServes(t, scylla, 20), want)
	if id, err := scylla.client(t).ID(context.Background()); err != nil || id.ID != crdtID.ID {
		t.Fatalf("the scylla peer is %v (%v), want the crdt peer's identity %s", id.ID, err, crdtID.ID)
	}
	scylla.stop(t)

	// The way back: export, then import into new crdt and raft peers.
	back, backLines := exportLines(t, scyllaDir)
	requireLines(t, "state export of the scylla peer", backLines, want)
	for _, consensus := range []string{"crdt", "raft"} {
		dir := initPeer(t, k, nil, "--consensus", consensus)
		mustRun(t, "-c", dir, "state", "import", "-f", back)
		d := startDaemon(t, dir)
		requireLines(t, "pin ls of the new "+consensus+" peer", waitServes(t, d, 20), want)
		d.stop(t)
	}
}

// A raft peer's pinset moves by state migrate, its folder untouched.
func TestRaftPinsetMigratesToScylla(t *testing.T) {
	k := kubotest.Start(t)
	raftDir := initPeer(t, k, nil, "--consensus", "raft")
	raft := startDaemon(t, raftDir)
	addNamed(t, raft, "raft", 5)
	want := pinLines(t, raft.client(t))
	raft.stop(t) // takes a snapshot
	before := treetest.Snapshot(t, raftDir)

	scyllaDir := initPeer(t, k, onKeyspace(cqltest.Config(t, cqltest.DefaultPrefix)), "--datastore", "scylla")
	r := mustRun(t, "-c", scyllaDir, "state", "migrate", "--from", raftDir, "--work-dir", t.TempDir())
	requireReport(t, r,
		"source:   the raft state of "+raftDir,
		"verified: 5 present and equal, 0 missing, 0 different")
	treetest.RequireSame(t, before, treetest.Snapshot(t, raftDir))
	_, got := exportLines(t, scyllaDir)
	requireLines(t, "state export after the migration", got, want)
}

// A state migrate killed (SIGKILL) half way leaves part of the pins and
// its copy of the source; the next run says so and finishes the job: every
// pin once, the source untouched.
func TestKilledMigrationFinishesWhenRunAgain(t *testing.T) {
	const n = 3000
	k := kubotest.Start(t)
	bigDir := initPeer(t, k, nil, "--consensus", "crdt")
	pins := filepath.Join(t.TempDir(), "big.json")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	var want []string
	for i := 1; i <= n; i++ {
		p := api.PinCid(statetest.Cid(i))
		p.Name = fmt.Sprintf("gen-%d", i)
		p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, pinLine(p))
	}
	slices.Sort(want)
	if err := os.WriteFile(pins, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "-c", bigDir, "state", "import", "-f", pins)
	before := treetest.Snapshot(t, bigDir)

	scyllaDir := initPeer(t, k, func(c map[string]any) {
		onKeyspace(cqltest.Config(t, cqltest.DefaultPrefix))(c)
		jsonconf.Set(c, "state.scyllastate.batch_size", 100)
		jsonconf.Set(c, "state.scyllastate.write_concurrency", 1)
	}, "--datastore", "scylla")
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := command(ctx, "-c", scyllaDir, "state", "migrate", "--from", bigDir, "--work-dir", work)
	stderr := filepath.Join(t.TempDir(), "migrate.err")
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	progress := regexp.MustCompile(fmt.Sprintf(`migrate: [1-9][0-9]* of %d pins written`, n))
	waitUntil(t, time.Minute, "state migrate writing", func() bool {
		b, _ := os.ReadFile(stderr)
		return progress.Match(b)
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	_, partial := exportLines(t, scyllaDir)
	t.Logf("pins written before the kill: %d", len(partial))
	if len(partial) < 100 || len(partial) >= n {
		t.Fatalf("after the kill the keyspace holds %d pins, want some but not all %d", len(partial), n)
	}
	if left, _ := filepath.Glob(filepath.Join(work, "ipfs-cluster-migrate-*")); len(left) == 0 {
		t.Fatal("the killed migration left no copy of the source behind")
	}

	if err := jsonconf.Edit(filepath.Join(scyllaDir, "service.json"), func(c map[string]any) {
		delete(jsonconf.Get(c, "state.scyllastate").(map[string]any), "write_concurrency")
	}); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "-c", scyllaDir, "state", "migrate", "--from", bigDir, "--work-dir", work)
	if !strings.Contains(r.stderr, "copies left by interrupted migrations") {
		t.Errorf("the second run does not mention the copy left behind:\n%s", r.stderr)
	}
	requireReport(t, r,
		fmt.Sprintf("pins:     %d in the source, %d written", n, n),
		fmt.Sprintf("verified: %d present and equal, 0 missing, 0 different", n),
		fmt.Sprintf("keyspace: %d pins in all", n))
	_, got := exportLines(t, scyllaDir)
	requireLines(t, "the keyspace after the second run", got, want)
	treetest.RequireSame(t, before, treetest.Snapshot(t, bigDir))
}
