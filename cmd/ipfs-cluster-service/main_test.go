package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newStdin(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// run runs the command line as the binary would, without exiting.
func run(t *testing.T, args ...string) error {
	t.Helper()
	return newApp().Run(append([]string{programName}, args...))
}

func sections(t *testing.T, dir string) map[string]map[string]json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "service.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestInitCrdtAndRaftAsUpstream(t *testing.T) {
	dir := t.TempDir()
	if err := run(t, "-c", dir, "init", "--randomports"); err != nil {
		t.Fatal(err)
	}
	cfg := sections(t, dir)
	if cfg["consensus"]["crdt"] == nil || cfg["consensus"]["raft"] != nil || cfg["datastore"]["pebble"] == nil {
		t.Errorf("default init: consensus %v datastore %v, want crdt and pebble", cfg["consensus"], cfg["datastore"])
	}
	for _, f := range []string{"identity.json", "peerstore"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not write %s: %s", f, err)
		}
	}
	if err := run(t, "-c", dir, "init", "-f", "--consensus", "raft"); err != nil {
		t.Fatal(err)
	}
	cfg = sections(t, dir)
	if cfg["consensus"]["raft"] == nil || cfg["consensus"]["crdt"] != nil || len(cfg["datastore"]) != 0 {
		t.Errorf("raft init: consensus %v datastore %v, want raft only", cfg["consensus"], cfg["datastore"])
	}
}

func TestInitPeersTrustsOnlyThem(t *testing.T) {
	dir := t.TempDir()
	addr := "/ip4/127.0.0.1/tcp/9096/p2p/12D3KooWAr3U56jYqtSqmfmisXtwpb3ABuVBbZfcEVe3ctNRumNw"
	if err := run(t, "-c", dir, "init", "--peers", addr); err != nil {
		t.Fatal(err)
	}
	var crdt struct {
		TrustedPeers []string `json:"trusted_peers"`
	}
	_ = json.Unmarshal(sections(t, dir)["consensus"]["crdt"], &crdt)
	if len(crdt.TrustedPeers) != 1 || !strings.HasSuffix(addr, crdt.TrustedPeers[0]) {
		t.Errorf("trusted_peers %v, want only the given peer", crdt.TrustedPeers)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "peerstore"))
	if !strings.Contains(string(raw), "12D3KooWAr3U56") {
		t.Errorf("peerstore %q lacks the given peer", raw)
	}
}

func TestUsageErrorsFail(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-c", dir},                   // no command
		{"-c", dir, "--no-such-flag"}, // unknown flag
		{"-c", dir, "init", "--consensus", "paxos"},
		{"-c", dir, "init", "--consensus", "raft", "--datastore", "scylla"},
		{"-c", dir, "init", "--peers", "not-a-multiaddr"},
		{"-c", dir, "-l", "chatty", "version"},
		{"-c", filepath.Join(dir, "missing"), "daemon"},
	} {
		if err := run(t, args...); err == nil {
			t.Errorf("%v: want an error (exit 1)", args)
		}
	}
}

func TestInitDoesNotOverwriteWithoutForce(t *testing.T) {
	dir := t.TempDir()
	if err := run(t, "-c", dir, "init"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "service.json"))
	stdin = newStdin("n\n")
	if err := run(t, "-c", dir, "init", "--consensus", "raft"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "service.json"))
	if string(before) != string(after) {
		t.Fatal("init overwrote service.json after the user answered n")
	}
}
