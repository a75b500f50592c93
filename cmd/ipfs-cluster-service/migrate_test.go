//go:build scylla && integration

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

func TestStateMigrateFromCrdtPrintsTheCounts(t *testing.T) {
	crdtDir := t.TempDir()
	if err := run(t, "-c", crdtDir, "init", "--randomports"); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(t.TempDir(), "pins.json")
	pins := writePins(t, export, 40)
	if err := run(t, "-c", crdtDir, "state", "import", "-f", export); err != nil {
		t.Fatal(err)
	}
	dir, st := initScylla(t)

	out, err := stdout(t, func() error { return run(t, "-c", dir, "state", "migrate", "--from", crdtDir) })
	if err != nil {
		t.Fatalf("state migrate: %s\n%s", err, out)
	}
	for _, want := range []string{
		"source:   the crdt/pebble state of " + crdtDir,
		"pins:     40 in the source, 40 written",
		"verified: 40 present and equal, 0 missing, 0 different",
		"keyspace: 40 pins in all",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	got := statetest.ListAll(t, context.Background(), st)
	if len(got) != 40 {
		t.Fatalf("the keyspace holds %d pins, want 40", len(got))
	}
	for _, p := range pins {
		statetest.RequireEqual(t, p, got[p.Cid])
	}

	// Again: idempotent, nothing duplicated.
	if out, err := stdout(t, func() error { return run(t, "-c", dir, "state", "migrate", "--from", crdtDir) }); err != nil ||
		!strings.Contains(out, "keyspace: 40 pins in all") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}

func TestStateMigrateUsageErrors(t *testing.T) {
	crdtDir := t.TempDir()
	if err := run(t, "-c", crdtDir, "init", "--randomports"); err != nil {
		t.Fatal(err)
	}
	dir, _ := initScylla(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", dir, "state", "migrate"}, `"from" not set`},
		{[]string{"-c", dir, "state", "migrate", "--from", dir}, "is the folder of --config"},
		{[]string{"-c", crdtDir, "state", "migrate", "--from", dir}, "init --datastore scylla"},
		{[]string{"-c", dir, "state", "migrate", "--from", filepath.Join(crdtDir, "missing")}, "--from"},
	} {
		err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error containing %q, got %v", c.args, c.want, err)
		}
	}
	if err := run(t, "-c", crdtDir, "state", "migrate", "--from", dir); !errors.Is(err, config.ErrBadCombination) {
		t.Errorf("migrating into a crdt peer: want ErrBadCombination, got %v", err)
	}
}

func TestStateCrdtSaysAScyllaPeerHasNoCrdtState(t *testing.T) {
	dir, st := initScylla(t)
	for _, sub := range []string{"info", "dot", "mark-dirty", "mark-clean"} {
		err := run(t, "-c", dir, "state", "crdt", sub)
		if !errors.Is(err, service.ErrNotCrdt) || !strings.Contains(err.Error(), "no crdt state") ||
			!strings.Contains(err.Error(), st.Config().Keyspace) {
			t.Errorf("state crdt %s on a scylla peer: want ErrNotCrdt saying there is no crdt state and naming the keyspace, got %v", sub, err)
		}
	}
}
