//go:build scylla && integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// initScylla runs `init --datastore scylla` and points the written
// scyllastate section at a throwaway keyspace of the test database.
func initScylla(t *testing.T) (string, *scyllastate.ScyllaState) {
	t.Helper()
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	dir := t.TempDir()
	if err := run(t, "-c", dir, "init", "--datastore", "scylla"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "service.json")
	raw, _ := os.ReadFile(path)
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	s := cfg["state"].(map[string]any)["scyllastate"].(map[string]any)
	s["hosts"], s["port"], s["keyspace"] = db.Hosts, db.Port, db.Keyspace
	out, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cqltest.New(t, db)
}

func count(t *testing.T, st *scyllastate.ScyllaState) int {
	t.Helper()
	return len(statetest.ListAll(t, context.Background(), st))
}

func TestScyllaCleanupNeedsTheKeyspaceName(t *testing.T) {
	dir, st := initScylla(t)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		if err := st.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	ks := st.Config().Keyspace
	for _, args := range [][]string{
		{"state", "cleanup", "-f"},
		{"state", "cleanup", "--confirm-keyspace", "ipfs_pins"},
	} {
		err := run(t, append([]string{"-c", dir}, args...)...)
		if !errors.Is(err, service.ErrNotConfirmed) {
			t.Errorf("%v: want ErrNotConfirmed, got %v", args, err)
		}
		if n := count(t, st); n != 5 {
			t.Fatalf("%v removed pins without confirmation: %d left", args, n)
		}
	}
	stdin = newStdin("wrong\n")
	if err := run(t, "-c", dir, "state", "cleanup"); !errors.Is(err, service.ErrNotConfirmed) {
		t.Errorf("a wrong name typed at the prompt: want ErrNotConfirmed, got %v", err)
	}
	stdin = newStdin(ks + "\n")
	if err := run(t, "-c", dir, "state", "cleanup"); err != nil {
		t.Fatalf("cleanup confirmed at the prompt: %s", err)
	}
	if n := count(t, st); n != 0 {
		t.Fatalf("after a confirmed cleanup %d pins are left", n)
	}
}

func TestScyllaExportImportRoundTrip(t *testing.T) {
	dir, st := initScylla(t)
	ctx := context.Background()
	for i := 1; i <= 20; i++ {
		if err := st.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	export := filepath.Join(dir, "export.json")
	if err := run(t, "-c", dir, "state", "export", "-f", export); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(export)
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p api.Pin
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("export line %d is not a JSON pin: %s", lines+1, err)
		}
		lines++
	}
	f.Close()
	if lines != 20 {
		t.Fatalf("export has %d lines, want 20 (NDJSON, one pin per line)", lines)
	}

	if err := run(t, "-c", dir, "state", "cleanup", "--confirm-keyspace", st.Config().Keyspace); err != nil {
		t.Fatal(err)
	}
	if err := run(t, "-c", dir, "state", "import", "-f", "--rmin", "2", "--rmax", "3", export); err != nil {
		t.Fatal(err)
	}
	got := statetest.ListAll(t, ctx, st)
	if len(got) != 20 {
		t.Fatalf("after import %d pins, want 20", len(got))
	}
	for _, p := range got {
		if p.ReplicationFactorMin != 2 || p.ReplicationFactorMax != 3 {
			t.Fatalf("pin %s: replication %d/%d, want the --rmin/--rmax overrides 2/3", p.Cid, p.ReplicationFactorMin, p.ReplicationFactorMax)
		}
	}

	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"cid": "not a cid"`), 0o600)
	if err := run(t, "-c", dir, "state", "import", "-f", bad); err == nil || !strings.Contains(err.Error(), "pin #1") {
		t.Fatalf("importing bad JSON: want an error naming the pin, got %v", err)
	}
}

// A malformed import is refused before anything is written, naming the
// line of the first bad pin.
func TestMalformedImportWritesNothing(t *testing.T) {
	dir, st := initScylla(t)
	file := filepath.Join(t.TempDir(), "import.json")
	writePins(t, file, 49)
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"cid": "not-a-cid"}` + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = run(t, "-c", dir, "state", "import", "-f", file)
	if !errors.Is(err, service.ErrBadImport) || !strings.Contains(err.Error(), "line 50") {
		t.Fatalf("want an error naming line 50, got %v", err)
	}
	if n := count(t, st); n != 0 {
		t.Fatalf("%d pins written by a refused import", n)
	}
}
