//go:build scylla && integration

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/api/rest/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// runMainEnv makes the test binary run the command itself (main) instead
// of the tests: the tests of this file run it as the real daemon process.
const runMainEnv = "IPFS_CLUSTER_SERVICE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command is an exec.Cmd of the command (this test binary as main).
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// result is what a finished command printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// runProcess runs the command as a process to its end (within 5 minutes).
func runProcess(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%v: %s", args, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}
}

// mustRun runs the command as a process and fails the test unless it
// exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runProcess(t, args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// initPeer runs `init --randomports ARGS` in a new folder, gives the peer
// listen ports on 127.0.0.1 below the ephemeral range, points it at kubo
// k and applies edit (nil: none) to its service.json.
func initPeer(t *testing.T, k *kubotest.Kubo, edit func(map[string]any), args ...string) string {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, append([]string{"-c", dir, "init", "--randomports"}, args...)...)
	// The listen ports are the test's, on 127.0.0.1 below the kernel's
	// ephemeral range: init's random ones are in it, where an outgoing
	// connection can take one before the daemon binds it ("address
	// already in use").
	var moved error
	err := jsonconf.Edit(filepath.Join(dir, "service.json"), func(c map[string]any) {
		cluster.Loopback(c)
		moved = cluster.MovePorts(c, proc.FreePort)
		jsonconf.Set(c, "ipfs_connector.ipfshttp.node_multiaddress", k.NodeAddr().String())
		if edit != nil {
			edit(c)
		}
	})
	if err := errors.Join(err, moved); err != nil {
		t.Fatal(err)
	}
	return dir
}

// onKeyspace is the edit of initPeer that points a scylla peer at the
// test database's keyspace of db.
func onKeyspace(db *scyllastate.Config) func(map[string]any) {
	return func(c map[string]any) {
		jsonconf.Set(c, "state.scyllastate.hosts", db.Hosts)
		jsonconf.Set(c, "state.scyllastate.port", db.Port)
		jsonconf.Set(c, "state.scyllastate.keyspace", db.Keyspace)
	}
}

// daemon is one `ipfs-cluster-service daemon` process of a test.
type daemon struct {
	dir  string
	proc *proc.Proc
}

// startDaemon starts the daemon of the peer in dir (stopped when the
// test ends) and waits until it logs that it is ready.
func startDaemon(t *testing.T, dir string, args ...string) *daemon {
	t.Helper()
	g := &proc.Group{}
	logPath := filepath.Join(dir, fmt.Sprintf("daemon-%d.log", time.Now().UnixNano()))
	t.Cleanup(func() {
		_ = g.StopAll(30 * time.Second)
		if t.Failed() {
			t.Logf("the last lines of the daemon's log (%s):\n%s", dir, proc.Tail(logPath, 40))
		}
	})
	p, err := g.Start("daemon "+dir, logPath, []string{runMainEnv + "=1"}, os.Args[0], append([]string{"-c", dir, "daemon"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{dir: dir, proc: p}
	d.waitLog(t, 2*time.Minute, "IPFS Cluster is READY")
	return d
}

// waitLog waits until the daemon's log holds needle; it fails the test if
// the daemon exits first.
func (d *daemon) waitLog(t *testing.T, timeout time.Duration, needle string) {
	t.Helper()
	w := proc.NewLogWatch(d.proc.LogPath, needle)
	waitUntil(t, timeout, fmt.Sprintf("%q in the log of %s", needle, d.dir), func() bool {
		if d.proc.Exited() {
			t.Fatalf("the daemon in %s exited (%v): %s", d.dir, d.proc.Err(), proc.Tail(d.proc.LogPath, 20))
		}
		return w.Found()
	})
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.proc.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// client is a REST client of the daemon, as ipfs-cluster-ctl uses.
func (d *daemon) client(t *testing.T) client.Client {
	t.Helper()
	var addrs []string
	var cfg map[string]any
	if err := jsonconf.Read(filepath.Join(d.dir, "service.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	switch a := jsonconf.Get(cfg, "api.restapi.http_listen_multiaddress").(type) {
	case string:
		addrs = []string{a}
	case []any:
		for _, s := range a {
			addrs = append(addrs, fmt.Sprint(s))
		}
	}
	if len(addrs) == 0 {
		t.Fatalf("no REST API address in %s", d.dir)
	}
	c, err := client.NewDefaultClient(&client.Config{APIAddr: ma.StringCast(addrs[0]), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitUntil polls ok every 100ms until it holds; after timeout it fails
// the test naming what did not happen.
func waitUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: not yet", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statuses lists the status of every pin on every peer, through c, as
// "COUNT STATUS" pairs sorted by status (as `ctl status | sort | uniq -c`).
func statuses(t *testing.T, c client.Client, filter api.TrackerStatus) map[string]int {
	t.Helper()
	out := make(chan api.GlobalPinInfo, 64)
	errc := make(chan error, 1)
	go func() { errc <- c.StatusAll(context.Background(), filter, false, out) }()
	counts := map[string]int{}
	for gpi := range out {
		for _, pi := range gpi.PeerMap {
			counts[pi.Status.String()]++
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("status: %s", err)
	}
	return counts
}

// pinnedEverywhere tells whether every pin is pinned on every peer (and
// there is at least one).
func pinnedEverywhere(t *testing.T, c client.Client) bool {
	t.Helper()
	s := statuses(t, c, api.TrackerStatusUndefined)
	return len(s) == 1 && s["pinned"] > 0
}

// pinLines lists `pin ls` through c as sorted "cid name metadata" lines.
func pinLines(t *testing.T, c client.Client) []string {
	t.Helper()
	out := make(chan api.Pin, 64)
	errc := make(chan error, 1)
	go func() { errc <- c.Allocations(context.Background(), api.AllType, out) }()
	var lines []string
	for p := range out {
		lines = append(lines, pinLine(p))
	}
	if err := <-errc; err != nil {
		t.Fatalf("pin ls: %s", err)
	}
	slices.Sort(lines)
	return lines
}

// pinLine is what the tests compare of a pin: CID, name and metadata.
func pinLine(p api.Pin) string {
	keys := make([]string, 0, len(p.Metadata))
	for k := range p.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var meta strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&meta, " %s=%s", k, p.Metadata[k])
	}
	return fmt.Sprintf("%s %q%s", p.Cid, p.Name, meta.String())
}
