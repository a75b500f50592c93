//go:build integration

package scyllastate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlproxy"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// feedCids reads the CIDs of the events in [from, now] through the given
// partitions, with one query per bucket as a polling peer does.
func feedCids(t *testing.T, ctx context.Context, st *scyllastate.ScyllaState, from time.Time) map[string]scyllastate.Partition {
	t.Helper()
	parts, err := st.Feed().Partitions(ctx, from, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]scyllastate.Partition{}
	byBucket := map[int64][]scyllastate.Partition{}
	for _, p := range parts {
		byBucket[p.Bucket] = append(byBucket[p.Bucket], p)
	}
	lo := scyllastate.MinEventID(from)
	for _, ps := range byBucket {
		err := st.Feed().ReadPartitions(ctx, ps, func(scyllastate.Partition) scyllastate.EventID { return lo }, scyllastate.MaxEventID(time.Now()),
			func(p scyllastate.Partition, e scyllastate.Event) error {
				got[e.Cid.String()] = p
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// A new keyspace takes its layout from event_partitions; a peer whose
// setting differs uses the keyspace's, so that writers and readers agree.
func TestNewKeyspaceRecordsEventPartitions(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.EventPartitions = 8
	a := cqltest.New(t, cfg)
	layout, err := a.Feed().Layout(ctx)
	if err != nil || len(layout) != 1 || layout[0].Partitions != 8 {
		t.Fatalf("layout of a new keyspace with event_partitions 8: %+v, %v", layout, err)
	}
	other := *cfg
	other.EventPartitions = 3
	b := cqltest.New(t, &other)

	start := time.Now().Add(-time.Second)
	pins := make([]api.Pin, 40)
	for i := range pins {
		pins[i] = statetest.Pin(i + 1)
		writer := a
		if i%2 == 1 {
			writer = b
		}
		if err := writer.Add(ctx, pins[i]); err != nil {
			t.Fatal(err)
		}
	}
	shards := map[int8]bool{}
	for _, st := range []*scyllastate.ScyllaState{a, b} {
		got := feedCids(t, ctx, st, start)
		for _, p := range pins {
			part, ok := got[p.Cid.String()]
			if !ok {
				t.Fatalf("the event of %s is not read through the keyspace's 8 partitions", p.Cid)
			}
			if part.Shard < 0 || part.Shard >= 8 {
				t.Fatalf("event of %s in partition %d of 8", p.Cid, part.Shard)
			}
			shards[part.Shard] = true
		}
	}
	if len(shards) < 5 {
		t.Fatalf("40 events in %d of 8 partitions: the writes do not spread", len(shards))
	}
}

// Two peers creating one keyspace at once with different settings end up
// with one layout, the larger: every partition of the smaller is in it.
func TestConcurrentCreationAgreesOnTheLayout(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	var wg sync.WaitGroup
	stores := make([]*scyllastate.ScyllaState, 2)
	errs := make([]error, 2)
	for i, n := range []int{4, 16} {
		c := *cfg
		c.EventPartitions = n
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = scyllastate.New(ctx, &c)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, st := range stores {
		parts, err := st.Feed().Partitions(ctx, time.Now(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 4 && len(parts) != 16 {
			t.Fatalf("store %d reads %d partitions per minute", i, len(parts))
		}
		layout, err := st.Feed().Layout(ctx)
		if err != nil || len(layout) != 1 || layout[0].Partitions != 16 {
			t.Fatalf("store %d: layout %+v, %v: want one entry of 16 (the larger)", i, layout, err)
		}
	}
}

// A change of the layout applies from a minute at least LayoutLead ahead,
// so that every peer knows it before it is used; the minutes before keep
// the old count.
func TestScheduledLayoutChange(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.EventPartitions = 4
	st := cqltest.New(t, cfg)
	before := time.Now()
	from, err := st.Feed().ScheduleEventPartitions(ctx, 12)
	if err != nil {
		t.Fatal(err)
	}
	if from.Before(before.Add(scyllastate.LayoutLead)) {
		t.Fatalf("change applies from %s, less than %s ahead", from, scyllastate.LayoutLead)
	}
	layout, err := st.Feed().Layout(ctx)
	if err != nil || len(layout) != 2 || layout[1].Partitions != 12 || !layout[1].From.Equal(from) {
		t.Fatalf("layout after scheduling 12: %+v, %v", layout, err)
	}
	now, err := st.Feed().Partitions(ctx, time.Now(), time.Now())
	if err != nil || len(now) != 4 {
		t.Fatalf("partitions of the current minute after scheduling: %d, %v (want 4 until %s)", len(now), err, from)
	}
	if _, err := st.Feed().ScheduleEventPartitions(ctx, scyllastate.MaxEventPartitions+1); err == nil {
		t.Fatal("scheduling more partitions than the shard column holds succeeded")
	}
}

// One query per bucket reads each partition from its own cursor: events
// at or before a partition's cursor are not returned again.
func TestReadPartitionsFromPerPartitionCursors(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.EventPartitions = 4
	st := cqltest.New(t, cfg)
	start := time.Now().Add(-time.Second)
	var first []api.Pin
	for i := range 12 {
		p := statetest.Pin(i + 1)
		first = append(first, p)
		if err := st.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	cursors := map[scyllastate.Partition]scyllastate.EventID{}
	lo := scyllastate.MinEventID(start)
	after := func(p scyllastate.Partition) scyllastate.EventID {
		if c, ok := cursors[p]; ok {
			return c
		}
		return lo
	}
	read := func() map[string]int {
		parts, err := st.Feed().Partitions(ctx, start, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		byBucket := map[int64][]scyllastate.Partition{}
		for _, p := range parts {
			byBucket[p.Bucket] = append(byBucket[p.Bucket], p)
		}
		got := map[string]int{}
		for _, ps := range byBucket { // one query per minute
			err := st.Feed().ReadPartitions(ctx, ps, after, scyllastate.MaxEventID(time.Now()), func(p scyllastate.Partition, e scyllastate.Event) error {
				got[e.Cid.String()]++
				cursors[p] = e.ID
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	if got := read(); len(got) != len(first) {
		t.Fatalf("first read: %d of %d events", len(got), len(first))
	}
	p := statetest.Pin(99)
	if err := st.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	got := read()
	if len(got) != 1 || got[p.Cid.String()] != 1 {
		t.Fatalf("second read from the cursors returned %v, want only %s", got, p.Cid)
	}
}

// A write of the activity index that times out (its answer lost, the row
// written or not) fails no change: the change is written, its event is
// where the sweeps read, and the partition is recorded again with the
// next event there. The index only speeds polling peers up.
func TestActivityIndexFailureFailsNoChange(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.EventPartitions = 1 // every event in one partition per minute
	reader := cqltest.New(t, cfg)
	st, proxy := proxied(t, cfg, "activity")
	start := time.Now().Add(-time.Second)

	proxy.DropResponsesWhere(cqlproxy.StatementContains("feed_activity"))
	p := statetest.Pin(1)
	if err := st.Add(ctx, p); err != nil {
		t.Fatalf("a change failed with its activity index write: %v", err)
	}
	if _, err := reader.Get(ctx, p.Cid); err != nil {
		t.Fatalf("the pin row: %v", err)
	}
	// Whatever landed, the index is lost (as a write that never did).
	sess := cqltest.Session(t, cfg)
	defer sess.Close()
	parts, err := reader.Feed().Partitions(ctx, start, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range parts {
		if err := sess.Query("DELETE FROM "+cfg.Keyspace+".feed_activity WHERE bucket = ?", part.Bucket).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	active, err := reader.Feed().ActivePartitions(ctx, start, time.Now())
	if err != nil || len(active) != 0 {
		t.Fatalf("active partitions after the index was lost: %v, %v", active, err)
	}
	if _, ok := feedCids(t, ctx, reader, start)[p.Cid.String()]; !ok {
		t.Fatal("the change is not in the feed's partitions: a sweep would miss it")
	}

	// The next change in the partition records it again.
	proxy.Pass()
	p2 := statetest.Pin(2)
	if err := st.Add(ctx, p2); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		active, err = reader.Feed().ActivePartitions(ctx, start, time.Now())
		if err == nil && len(active) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the partition was not recorded again with its next event: %v, %v", active, err)
		}
	}
}
