package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// stdout runs fn and returns what it printed on stdout.
func stdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	ferr := fn()
	os.Stdout = saved
	w.Close()
	out := <-done
	r.Close()
	return string(out), ferr
}

// writePins writes n test pins as an export file (NDJSON).
func writePins(t *testing.T, path string, n int) []api.Pin {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	pins := make([]api.Pin, n)
	for i := range pins {
		pins[i] = statetest.Pin(i + 1)
		if err := enc.Encode(pins[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return pins
}

func TestGlobalForceFlagIsAcceptedAsUpstream(t *testing.T) {
	dir := t.TempDir()
	// Upstream defines -f/--force before the command and never reads it.
	if err := run(t, "-f", "-c", dir, "init", "--randomports"); err != nil {
		t.Fatalf("-f init: %s", err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "service.json"))
	stdin = newStdin("n\n")
	if err := run(t, "--force", "-c", dir, "init", "--consensus", "raft"); err != nil {
		t.Fatalf("--force init: %s", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "service.json")); !bytes.Equal(before, after) {
		t.Fatal("--force before init overwrote service.json after the user answered n (upstream only reads init's own -f)")
	}
	stdin = newStdin("") // a prompt would read "no"
	if err := run(t, "-c", dir, "init", "-f", "--consensus", "raft"); err != nil {
		t.Fatalf("init -f: %s", err)
	}
	if cfg := sections(t, dir); cfg["consensus"]["raft"] == nil {
		t.Fatal("init -f did not overwrite the configuration without asking")
	}

	// state export's -f is --file, with or without the global -f.
	for i, args := range [][]string{
		{"-c", dir, "state", "export", "-f", filepath.Join(dir, "e0.json")},
		{"-f", "-c", dir, "state", "export", "-f", filepath.Join(dir, "e1.json")},
	} {
		if err := run(t, args...); err != nil {
			t.Fatalf("%v: %s", args, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "e"+string(rune('0'+i))+".json")); err != nil {
			t.Fatalf("%v did not write the file: %s", args, err)
		}
	}
	// state import -f still skips the prompt.
	stdin = newStdin("")
	if err := run(t, "-c", dir, "state", "import", "-f", filepath.Join(dir, "e0.json")); err != nil {
		t.Fatalf("state import -f: %s", err)
	}
}

func TestStateCrdtCommandsAsUpstream(t *testing.T) {
	dir := t.TempDir()
	if err := run(t, "-c", dir, "init", "--randomports"); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(dir, "pins.json")
	writePins(t, export, 5)
	if err := run(t, "-c", dir, "state", "import", "-f", export); err != nil {
		t.Fatal(err)
	}
	info := func() string {
		out, err := stdout(t, func() error { return run(t, "-c", dir, "state", "crdt", "info") })
		if err != nil {
			t.Fatalf("state crdt info: %s", err)
		}
		return out
	}
	if out := info(); !strings.Contains(out, "Number of heads: 1.") || !strings.Contains(out, "Dirty: false") {
		t.Fatalf("state crdt info after an import: %q, want one head, clean", out)
	}
	if out, err := stdout(t, func() error { return run(t, "-c", dir, "state", "crdt", "mark-dirty") }); err != nil || out != "Datastore marked 'dirty'\n" {
		t.Fatalf("mark-dirty: %q, %v", out, err)
	}
	if out := info(); !strings.Contains(out, "Dirty: true") {
		t.Fatalf("state crdt info after mark-dirty: %q", out)
	}
	if out, err := stdout(t, func() error { return run(t, "-c", dir, "state", "crdt", "mark-clean") }); err != nil || out != "Datastore marked 'clean'\n" {
		t.Fatalf("mark-clean: %q, %v", out, err)
	}
	if out := info(); !strings.Contains(out, "Dirty: false") {
		t.Fatalf("state crdt info after mark-clean: %q", out)
	}
	dot := filepath.Join(dir, "dag.dot")
	if err := run(t, "-c", dir, "state", "crdt", "dot", "-f", dot); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dot); !bytes.HasPrefix(b, []byte("digraph CRDTDAG {")) || !bytes.Contains(b, []byte("[label=\"1 | ")) {
		t.Fatalf("state crdt dot wrote %q, want a DOT graph with the import's DAG node (height 1)", b)
	}
	// The pinset is intact.
	out, err := stdout(t, func() error { return run(t, "-c", dir, "state", "export") })
	if err != nil || strings.Count(out, "\n") != 5 {
		t.Fatalf("export after the crdt commands: %d lines, %v", strings.Count(out, "\n"), err)
	}
}

func TestStateCrdtRefusesRaftPeers(t *testing.T) {
	dir := t.TempDir()
	if err := run(t, "-c", dir, "init", "--consensus", "raft", "--randomports"); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"info", "dot", "mark-dirty", "mark-clean"} {
		err := run(t, "-c", dir, "state", "crdt", sub)
		if !errors.Is(err, service.ErrNotCrdt) || !strings.Contains(err.Error(), "raft") {
			t.Errorf("state crdt %s on a raft peer: want ErrNotCrdt naming raft, got %v", sub, err)
		}
	}
}
