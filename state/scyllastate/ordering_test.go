//go:build integration

package scyllastate_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// skewedClocks installs per-writer clock offsets for the stores a test
// creates; offsets can change while the stores run.
type skewedClocks struct {
	mu      sync.Mutex
	offsets map[string]*atomic.Int64 // nanoseconds
}

func skewClocks(t *testing.T) *skewedClocks {
	c := &skewedClocks{offsets: map[string]*atomic.Int64{}}
	t.Cleanup(seams.SetClock(func(writer string) func() time.Time {
		off := c.offset(writer)
		return func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	}))
	return c
}

func (c *skewedClocks) offset(writer string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offsets[writer] == nil {
		c.offsets[writer] = &atomic.Int64{}
	}
	return c.offsets[writer]
}

func (c *skewedClocks) set(writer string, d time.Duration) { c.offset(writer).Store(int64(d)) }

// writerStore opens a store writing as id on a shared keyspace.
func writerStore(t *testing.T, cfg *scyllastate.Config, id string) *scyllastate.ScyllaState {
	t.Helper()
	c := *cfg
	st := cqltest.New(t, &c, scyllastate.WithWriterID(id))
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// An unpin made after reading a pin wins over it even when the pin's
// writer runs 5 s ahead; a pin made after reading that unpin wins over it
// even when its own writer runs 5 s behind. Without the hybrid logical
// clock (or the unpin's marker) both acknowledged changes are lost.
func TestChangeAfterObservingWinsWhateverTheClocks(t *testing.T) {
	ctx := testCtx(t)
	clocks := skewClocks(t)
	clocks.set("fast", 5*time.Second)
	clocks.set("slow", -5*time.Second)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	fast := writerStore(t, cfg, "fast")
	slow := writerStore(t, cfg, "slow")
	normal := writerStore(t, cfg, "normal")

	for round := range 3 {
		p := statetest.Pin(100 + round)
		// fast pins; slow reads it and unpins it: the unpin wins.
		if err := fast.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := slow.Get(ctx, p.Cid); err != nil {
			t.Fatalf("round %d: slow does not see the pin of fast: %v", round, err)
		}
		if err := slow.Rm(ctx, p.Cid); err != nil {
			t.Fatal(err)
		}
		if ok, err := normal.Has(ctx, p.Cid); err != nil || ok {
			t.Fatalf("round %d: an unpin made after reading the pin lost to it (has=%v, err=%v)", round, ok, err)
		}
		// fast unpins again (nothing to unpin: it reads the marker),
		// then slow pins after reading the unpin: the pin wins.
		if _, err := fast.Get(ctx, p.Cid); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("round %d: want not found, got %v", round, err)
		}
		if err := fast.Rm(ctx, p.Cid); err != nil {
			t.Fatal(err)
		}
		if _, err := slow.Get(ctx, p.Cid); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("round %d: want not found, got %v", round, err)
		}
		if err := slow.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := normal.Get(ctx, p.Cid)
		if err != nil {
			t.Fatalf("round %d: a pin made after reading the unpin lost to it: %v", round, err)
		}
		statetest.RequireEqual(t, p, got)
	}
}

// The feed carries the same order: the event of the change made after
// reading the other has the larger write timestamp.
func TestEventsCarryTheCausalOrder(t *testing.T) {
	ctx := testCtx(t)
	clocks := skewClocks(t)
	clocks.set("ahead", 3*time.Second)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	ahead := writerStore(t, cfg, "ahead")
	behind := writerStore(t, cfg, "behind")
	p := statetest.Pin(7)
	start := time.Now().Add(-time.Minute)
	tsPin, err := ahead.PinChange(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := behind.Get(ctx, p.Cid); err != nil {
		t.Fatal(err)
	}
	tsUnpin, err := behind.UnpinChange(ctx, p.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if tsUnpin <= tsPin {
		t.Fatalf("unpin stamped %d, not after the pin it read (%d)", tsUnpin, tsPin)
	}
	ops := eventsOf(t, behind, p.Cid, start)
	if len(ops) != 2 {
		t.Fatalf("want 2 events of %s, got %d", p.Cid, len(ops))
	}
	for _, e := range ops {
		want := map[scyllastate.Op]int64{scyllastate.OpPin: tsPin, scyllastate.OpUnpin: tsUnpin}[e.Op]
		if e.WriteTime != want {
			t.Errorf("%s event carries write time %d, want %d", e.Op, e.WriteTime, want)
		}
	}
}

// An unpin leaves a marker that Get, Has, List and Marshal do not show,
// that ReadVersion reports, and that ScanSlice lists for repairs.
func TestUnpinLeavesAMarkerForRepairs(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, cfg)
	t.Cleanup(func() { _ = st.Close() })
	kept, gone := statetest.Pin(1), statetest.Pin(2)
	for _, p := range []api.Pin{kept, gone} {
		if err := st.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := st.UnpinChange(ctx, gone.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Has(ctx, gone.Cid); ok {
		t.Fatal("an unpinned CID is still reported by Has")
	}
	all := statetest.ListAll(t, ctx, st)
	if len(all) != 1 {
		t.Fatalf("List shows %d pins, want 1 (the marker of an unpin is not a pin)", len(all))
	}
	rv, err := st.ReadVersion(ctx, gone.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Found || rv.UnpinTime != ts {
		t.Fatalf("ReadVersion of an unpinned CID: found=%v unpin time %d, want false and %d", rv.Found, rv.UnpinTime, ts)
	}
	entries := map[string]scyllastate.SliceEntry{}
	var mu sync.Mutex
	for i := range 4 {
		err := st.ScanSlice(ctx, i, 4, func(e scyllastate.SliceEntry) error {
			mu.Lock()
			defer mu.Unlock()
			entries[e.Cid.KeyString()] = e
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if e, ok := entries[gone.Cid.KeyString()]; !ok || e.Pin != nil || e.WriteTime != ts {
		t.Fatalf("ScanSlice: the unpinned CID's marker is %+v (listed %v), want no pin and write time %d", e, ok, ts)
	}
	if e, ok := entries[kept.Cid.KeyString()]; !ok || e.Pin == nil || e.WriteTime == 0 {
		t.Fatalf("ScanSlice: the pin is %+v (listed %v)", e, ok)
	}
	// Pinned again: a pin, with a newer write time than the unpin.
	ts2, err := st.PinChange(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	if rv, err = st.ReadVersion(ctx, gone.Cid); err != nil || !rv.Found || rv.WriteTime != ts2 || ts2 <= ts {
		t.Fatalf("pinned again: %+v, %v (pin at %d after unpin at %d)", rv, err, ts2, ts)
	}
}

// A change whose event is acknowledged after the longest write the
// readers wait for (a writer paused between stamping and writing) is
// announced again by a fresh event, so that readers whose sweeps passed
// the first one still see it.
func TestLateEventIsAnnouncedAgain(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	// Once armed, the writer's clock reads the time once (the stamp of
	// the next change), then runs far ahead: as if the writer had been
	// paused between stamping the change and writing it.
	var armed atomic.Bool
	var jumped atomic.Bool
	t.Cleanup(seams.SetClock(func(writer string) func() time.Time {
		return func() time.Time {
			if jumped.Load() {
				return time.Now().Add(2*cfg.WriteDeadline() + time.Second)
			}
			if armed.CompareAndSwap(true, false) {
				jumped.Store(true)
			}
			return time.Now()
		}
	}))
	c := *cfg
	st := cqltest.New(t, &c, scyllastate.WithWriterID("paused"))
	t.Cleanup(func() { _ = st.Close() })
	// The first change registers the writer: the pause is the second's.
	if err := st.Add(ctx, statetest.Pin(30)); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	p := statetest.Pin(3)
	start := time.Now().Add(-time.Minute)
	ts, err := st.PinChange(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var events []scyllastate.Event
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if events = eventsOf(t, st, p.Cid, start); len(events) >= 2 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(events) != 2 {
		t.Fatalf("want the event and its fresh announcement, got %d events", len(events))
	}
	if events[0].ID == events[1].ID || events[0].WriteTime != ts || events[1].WriteTime != ts {
		t.Fatalf("the fresh announcement must carry the same change with a new ID: %+v", events)
	}
}

// An on-time change is announced once.
func TestOnTimeEventIsAnnouncedOnce(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, cfg)
	t.Cleanup(func() { _ = st.Close() })
	p := statetest.Pin(4)
	start := time.Now().Add(-time.Minute)
	if err := st.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // longer than the backlog's retry interval
	if n := len(eventsOf(t, st, p.Cid, start)); n != 1 {
		t.Fatalf("want 1 event, got %d", n)
	}
}

// Two writers that read the same pin and change it at once stamp the same
// write timestamp when the pin they read is ahead of both clocks; the
// unpin wins the tie in the row, as in every peer's applier, so that the
// row and the feed agree.
func TestConcurrentPinAndUnpinOfTheSameTimestampUnpinWins(t *testing.T) {
	ctx := testCtx(t)
	clocks := skewClocks(t)
	clocks.set("ahead", 30*time.Second)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	ahead := writerStore(t, cfg, "ahead")
	pinner := writerStore(t, cfg, "pinner")
	unpinner := writerStore(t, cfg, "unpinner")
	p := statetest.Pin(8)
	t0, err := ahead.PinChange(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*scyllastate.ScyllaState{pinner, unpinner} {
		if _, err := st.Get(ctx, p.Cid); err != nil {
			t.Fatal(err)
		}
	}
	again := p
	again.Name = "renamed"
	tsPin, err := pinner.PinChange(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	tsUnpin, err := unpinner.UnpinChange(ctx, p.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if tsPin != t0+1 || tsUnpin != t0+1 {
		t.Fatalf("want both changes stamped %d (just after what they read), got pin %d, unpin %d", t0+1, tsPin, tsUnpin)
	}
	rv, err := ahead.ReadVersion(ctx, p.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Found || rv.UnpinTime != tsUnpin {
		t.Fatalf("a pin and an unpin of the same timestamp: the row says found=%v (unpin time %d): the unpin must win", rv.Found, rv.UnpinTime)
	}
}
