//go:build scylla && integration

package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config/configtest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/treetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// sourcePeer writes the configuration of a crdt (datastore pebble,
// badger3, badger or leveldb) or raft peer, as `init` does, stores pins
// in its state offline and returns its folder.
func sourcePeer(t *testing.T, consensus, datastore string, pins []api.Pin) string {
	t.Helper()
	dir := t.TempDir()
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), consensus, datastore)
	if err != nil {
		t.Fatal(err)
	}
	if err := configtest.WriteNew(h, nil); err != nil {
		t.Fatal(err)
	}
	h.Manager().Shutdown()

	h = loadFolder(t, dir)
	ctx := context.Background()
	switch consensus {
	case config.Crdt:
		cs, err := service.OpenCrdtStore(h)
		if err != nil {
			t.Fatal(err)
		}
		st, err := dsstate.NewBatching(ctx, cs.Datastore, "", dsstate.DefaultHandle())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pins {
			if err := st.Add(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cs.Close(); err != nil {
			t.Fatal(err)
		}
	case config.Raft:
		// As `state import` on a raft peer: a snapshot of the pins.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, p := range pins {
			if err := enc.Encode(p); err != nil {
				t.Fatal(err)
			}
		}
		mgr, err := cmdutils.NewStateManager(h.Consensus(), h.Datastore(), h.Identity(), h.Configs().Configs)
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.ImportState(&buf, api.PinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// scyllaPeer writes the configuration of a scylla peer on a throwaway
// keyspace, with the given batch size, and opens the store for checks.
func scyllaPeer(t *testing.T, batchSize int) (string, *scyllastate.ScyllaState) {
	t.Helper()
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	db.BatchSize = batchSize
	dir := t.TempDir()
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), "", config.Scylla)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	if err := configtest.WriteNew(h, func(c *config.Configs) { *c.ScyllaState = *db }); err != nil {
		t.Fatal(err)
	}
	return dir, cqltest.New(t, db)
}

// loadFolder loads the configuration of any peer, as the commands do.
func loadFolder(t *testing.T, dir string) *config.Helper {
	t.Helper()
	h, err := config.NewLoadedHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Manager().Shutdown)
	return h
}

func testPins(n int) []api.Pin {
	pins := make([]api.Pin, n)
	for i := range pins {
		pins[i] = statetest.Pin(i + 1)
	}
	return pins
}

func migrate(t *testing.T, from, to string, opts service.MigrateOptions) (*service.MigrateReport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return service.Migrate(ctx, loadFolder(t, from), loadFolder(t, to), opts)
}

func TestMigrateCopiesEveryPinAndNeverModifiesTheSource(t *testing.T) {
	const n = 300
	pins := testPins(n)
	for _, src := range []struct{ consensus, datastore string }{
		{config.Crdt, "pebble"},
		{config.Raft, ""},
		{config.Crdt, "badger3"},
		{config.Crdt, "badger"},
		{config.Crdt, "leveldb"},
	} {
		t.Run(strings.TrimSuffix(src.consensus+"/"+src.datastore, "/"), func(t *testing.T) {
			from := sourcePeer(t, src.consensus, src.datastore, pins)
			to, st := scyllaPeer(t, 64) // several batches
			before := treetest.Snapshot(t, from)

			rep, err := migrate(t, from, to, service.MigrateOptions{WorkDir: t.TempDir()})
			if err != nil {
				t.Fatalf("migrate: %s", err)
			}
			treetest.RequireSame(t, before, treetest.Snapshot(t, from))
			if rep.Pins != n || rep.Written != n || rep.Present != n || rep.Missing != 0 || rep.Different != 0 || rep.TargetPins != n {
				t.Fatalf("report %+v: want %d pins read, written, present and in the keyspace, none missing or different", rep, n)
			}
			got := statetest.ListAll(t, context.Background(), st)
			if len(got) != n {
				t.Fatalf("the keyspace holds %d pins, want %d", len(got), n)
			}
			for _, p := range pins {
				statetest.RequireEqual(t, p, got[p.Cid])
			}
		})
	}
}

// cancelAfter cancels the migration once the write phase has written at
// least after pins: an interruption half way.
type cancelAfter struct {
	after   int64
	cancel  context.CancelFunc
	phase   string
	written atomic.Int64
}

func (c *cancelAfter) Phase(name string, _ int64) { c.phase = name }
func (c *cancelAfter) Done()                      {}
func (c *cancelAfter) Add(n int64) {
	if c.phase == "write" && c.written.Add(n) >= c.after {
		c.cancel()
	}
}

func TestMigrateFinishesWhenRunAgainAfterAnInterruption(t *testing.T) {
	const n = 2000
	from := sourcePeer(t, config.Crdt, "pebble", testPins(n))
	to, st := scyllaPeer(t, 100)
	before := treetest.Snapshot(t, from)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &cancelAfter{after: 500, cancel: cancel}
	rep, err := service.Migrate(ctx, loadFolder(t, from), loadFolder(t, to), service.MigrateOptions{WorkDir: t.TempDir(), Progress: stop})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted migration: want context.Canceled, got %v (report %+v)", err, rep)
	}
	if rep.Written < 500 || rep.Written >= n {
		t.Fatalf("interrupted migration wrote %d pins, want some but not all", rep.Written)
	}
	partial := len(statetest.ListAll(t, context.Background(), st))
	if partial < 500 || partial >= n {
		t.Fatalf("after the interruption the keyspace holds %d pins, want some but not all %d", partial, n)
	}

	rep, err = migrate(t, from, to, service.MigrateOptions{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatalf("second run: %s", err)
	}
	if rep.Present != n || rep.TargetPins != n {
		t.Fatalf("second run: %d present, keyspace holds %d: want %d and %d (no duplicates)", rep.Present, rep.TargetPins, n, n)
	}
	treetest.RequireSame(t, before, treetest.Snapshot(t, from))
}

// tamper removes one pin from the shared pinset and changes another when
// the verification starts, as a lost or concurrent write would.
type tamper struct {
	t      *testing.T
	st     *scyllastate.ScyllaState
	rm, ch api.Pin
}

func (p *tamper) Add(int64) {}
func (p *tamper) Done()     {}
func (p *tamper) Phase(name string, _ int64) {
	if name != "verify" {
		return
	}
	ctx := context.Background()
	if err := p.st.Rm(ctx, p.rm.Cid); err != nil {
		p.t.Error(err)
	}
	changed := p.ch
	changed.Name = "changed meanwhile"
	if err := p.st.Add(ctx, changed); err != nil {
		p.t.Error(err)
	}
}

func TestMigrateReportsMissingAndDifferentPins(t *testing.T) {
	pins := testPins(50)
	from := sourcePeer(t, config.Raft, "", pins)
	to, st := scyllaPeer(t, 20)
	rep, err := migrate(t, from, to, service.MigrateOptions{WorkDir: t.TempDir(), Progress: &tamper{t: t, st: st, rm: pins[3], ch: pins[7]}})
	if !errors.Is(err, service.ErrMigrationIncomplete) {
		t.Fatalf("want ErrMigrationIncomplete, got %v", err)
	}
	if rep.OK() || rep.Present != 48 || rep.Missing != 1 || rep.Different != 1 {
		t.Fatalf("report %+v: want 48 present, 1 missing, 1 different", rep)
	}
	want := map[string]bool{"missing " + pins[3].Cid.String(): true, "different " + pins[7].Cid.String(): true}
	for _, e := range rep.Examples {
		delete(want, e)
	}
	if len(want) != 0 {
		t.Fatalf("examples %v lack %v", rep.Examples, want)
	}
}

func TestMigrateRefusesWrongConsensuses(t *testing.T) {
	crdtDir := sourcePeer(t, config.Crdt, "pebble", nil)
	scyllaDir, _ := scyllaPeer(t, 10)
	for _, c := range []struct{ from, to string }{{crdtDir, crdtDir}, {scyllaDir, scyllaDir}} {
		_, err := migrate(t, c.from, c.to, service.MigrateOptions{})
		if !errors.Is(err, config.ErrBadCombination) {
			t.Errorf("from %s to %s: want ErrBadCombination, got %v", c.from, c.to, err)
		}
	}
}

func TestMigrateNamesTheMissingDataFolder(t *testing.T) {
	from := sourcePeer(t, config.Crdt, "pebble", nil)
	if err := os.RemoveAll(filepath.Join(from, "pebble")); err != nil {
		t.Fatal(err)
	}
	to, _ := scyllaPeer(t, 10)
	_, err := migrate(t, from, to, service.MigrateOptions{WorkDir: t.TempDir()})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(filepath.Join(from, "pebble"))) {
		t.Fatalf("want an error naming %s, got %v", filepath.Join(from, "pebble"), err)
	}
}
