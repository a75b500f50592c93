package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveUpstreamChoices(t *testing.T) {
	cases := []struct{ consensus, datastore, wantCons, wantDS string }{
		{"", "", Crdt, "pebble"},
		{"crdt", "", Crdt, "pebble"},
		{"crdt", "badger3", Crdt, "badger3"},
		{"", "leveldb", Crdt, "leveldb"},
		{"raft", "", Raft, ""},
	}
	for _, c := range cases {
		cons, ds, err := Resolve(c.consensus, c.datastore)
		if err != nil || cons != c.wantCons || ds != c.wantDS {
			t.Errorf("Resolve(%q, %q) = %q, %q, %v; want %q, %q", c.consensus, c.datastore, cons, ds, err, c.wantCons, c.wantDS)
		}
	}
}

func TestResolveRefusesNonsense(t *testing.T) {
	cases := []struct{ consensus, datastore, mention string }{
		{"raft", "scylla", "--consensus raft with --datastore scylla"},
		{"crdt", "scylla", "--consensus crdt with --datastore scylla"},
		{"paxos", "", `--consensus "paxos"`},
		{"", "mongo", `--datastore "mongo"`},
	}
	for _, c := range cases {
		_, _, err := Resolve(c.consensus, c.datastore)
		if !errors.Is(err, ErrBadCombination) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("Resolve(%q, %q): want an error naming %q, got %v", c.consensus, c.datastore, c.mention, err)
		}
	}
}

// writeInit writes a configuration as `init` does.
func writeInit(t *testing.T, consensus, datastore string) string {
	t.Helper()
	dir := t.TempDir()
	h, err := NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), consensus, datastore)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	if err := h.Manager().Default(); err != nil {
		t.Fatal(err)
	}
	if err := h.Identity().Default(); err != nil {
		t.Fatal(err)
	}
	if err := h.SaveConfigToDisk(); err != nil {
		t.Fatal(err)
	}
	if err := h.SaveIdentityToDisk(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(dir string) (*Helper, error) {
	return NewLoadedHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"))
}

func TestCrdtConfigLoadsAsCrdt(t *testing.T) {
	dir := writeInit(t, "crdt", "badger3")
	h, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	if h.Consensus() != Crdt || h.Datastore() != "badger3" {
		t.Fatalf("loaded %s/%s, want crdt/badger3", h.Consensus(), h.Datastore())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "service.json"))
	if strings.Contains(string(raw), `"raft"`) || strings.Contains(string(raw), `"scyllastate"`) {
		t.Error("a crdt service.json holds raft or scylla sections")
	}
}

func TestTwoConsensusSectionsAreRefused(t *testing.T) {
	dir := writeInit(t, "crdt", "pebble")
	path := filepath.Join(dir, "service.json")
	raw, _ := os.ReadFile(path)
	both := strings.Replace(string(raw), `"consensus": {`, `"consensus": {"raft": {},`, 1)
	if err := os.WriteFile(path, []byte(both), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(dir)
	if err == nil || !strings.Contains(err.Error(), "exactly one of crdt, raft or scylla") {
		t.Fatalf("want an error about the consensus section, got %v", err)
	}
}
