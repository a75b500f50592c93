package cluster

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

func TestFreePortsAndKeyspacesAreNeverHandedOutTwice(t *testing.T) {
	s := &Session{Dir: t.TempDir()}
	seen := map[int]bool{}
	for range 20 {
		p, err := s.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] || p < lowestPort || p >= ephemeralLow() {
			t.Fatalf("port %d: repeated or outside [%d, %d)", p, lowestPort, ephemeralLow())
		}
		seen[p] = true
	}
	ks, err := s.Keyspace()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^sh_[0-9a-f]{16}$`).MatchString(ks) {
		t.Errorf("keyspace %q", ks)
	}
	if got, _ := s.list("keyspaces"); !slices.Equal(got, []string{ks}) {
		t.Errorf("keyspaces recorded: %q", got)
	}
}

func TestReapStopsThePeersAndKubosAndDropsTheKeyspaces(t *testing.T) {
	p, _, pid := started(t)
	ctx := context.Background()
	kuboDir := t.TempDir()
	for _, k := range []string{"kubo0", "kubo1"} {
		if err := os.Mkdir(filepath.Join(kuboDir, k), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stopped, dropped, dbs []string
	s := &Session{Dir: t.TempDir(), KuboDir: kuboDir,
		StopKubo:      func(_ context.Context, name string) error { stopped = append(stopped, name); return nil },
		DropKeyspaces: func(_ context.Context, ks []string) error { dropped = append(dropped, ks...); return nil },
		StopDatabase:  func(_ context.Context, name string) error { dbs = append(dbs, name); return nil },
	}
	if err := s.AddPeer(p.Dir); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDatabase("secure"); err != nil {
		t.Fatal(err)
	}
	ks, err := s.Keyspace()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reap(ctx, func(dir string) (*Peer, error) { return p, nil }); err != nil {
		t.Fatal(err)
	}
	if !proc.Exited(pid) {
		t.Errorf("pid %d still runs after Reap", pid)
	}
	if !slices.Equal(stopped, []string{"kubo0", "kubo1"}) || !slices.Equal(dropped, []string{ks}) || !slices.Equal(dbs, []string{"secure"}) {
		t.Errorf("kubos stopped %q, keyspaces dropped %q, databases stopped %q", stopped, dropped, dbs)
	}
	dropped, dbs = nil, nil
	if err := s.Reap(ctx, func(dir string) (*Peer, error) { return p, nil }); err != nil || len(dropped) != 0 || len(dbs) != 0 {
		t.Errorf("second Reap: %v, dropped again %q, stopped again %q", err, dropped, dbs)
	}
}
