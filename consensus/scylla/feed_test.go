package scylla

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

const testOverlap = 10 * time.Second

// testFeedSettings are the feed settings of the tests' reader "self".
func testFeedSettings(overlap time.Duration) feedSettings {
	return feedSettings{
		reader:             "self",
		overlap:            overlap,
		pollInterval:       time.Second,
		checkpointInterval: time.Second,
		concurrency:        4,
		readConcurrency:    2,
		retention:          24 * time.Hour,
		timeout:            time.Second,
	}
}

type feedRig struct {
	store   *fakeStore
	tracker *fakeTracker
	clock   *clock
	feed    *feed
}

func newFeedRig(t *testing.T) *feedRig {
	t.Helper()
	r := &feedRig{store: newFakeStore(), tracker: newFakeTracker(), clock: &clock{t: time.Now()}}
	a := newApplier(peer.ID("self"), r.tracker, r.store, nil, 100)
	r.feed = newFeed(r.store, a, testFeedSettings(testOverlap), nil)
	r.feed.now = r.clock.now
	// A returning reader, positioned a moment ago.
	r.store.ckpts["self"] = r.clock.now().Add(-time.Second)
	if _, err := r.feed.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// event makes a change event issued at time at, with write timestamp ts.
func event(n int, op scyllastate.Op, at time.Time, ts time.Time) scyllastate.Event {
	e := scyllastate.Event{
		ID:        scyllastate.NewEventID(at),
		Cid:       statetest.Cid(n),
		Op:        op,
		WriteTime: ts.UnixMicro(),
		Writer:    "other",
	}
	if op == scyllastate.OpPin {
		p := statetest.Pin(n)
		p.Timestamp = ts
		e.Pin = &p
	}
	return e
}

func (r *feedRig) poll(t *testing.T) {
	t.Helper()
	if err := r.feed.poll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (r *feedRig) mustTrack(t *testing.T, n int, ts time.Time) {
	t.Helper()
	p, seen := r.tracker.state(statetest.Cid(n))
	if !seen || p == nil {
		t.Fatalf("pin %d is not tracked", n)
	}
	if !p.Timestamp.Equal(ts) {
		t.Fatalf("pin %d tracked with the value of %s, want the value of %s", n, p.Timestamp, ts)
	}
}

func (r *feedRig) mustUntrack(t *testing.T, n int) {
	t.Helper()
	if p, seen := r.tracker.state(statetest.Cid(n)); !seen || p != nil {
		t.Fatalf("pin %d: tracked=%v seen=%v, want untracked", n, p != nil, seen)
	}
}

// The hazard of re-reading the row: the event is visible before its row
// (another data center, a replica behind). The reader must apply the
// change the event carries, not the older row.
func TestEventVisibleBeforeItsRowAppliesTheEvent(t *testing.T) {
	r := newFeedRig(t)
	old := r.clock.now().Add(-time.Hour)
	oldPin := statetest.Pin(1)
	oldPin.Timestamp = old
	r.store.writeRow(oldPin.Cid, &oldPin, old.UnixMicro()) // the row still holds the old pin
	r.clock.advance(time.Second)
	now := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpPin, now, now)) // the new pin's event, row not written yet
	r.store.addEvent(event(2, scyllastate.OpUnpin, now, now))
	two := statetest.Pin(2)
	r.store.writeRow(two.Cid, &two, old.UnixMicro()) // the unpinned row is still there
	r.clock.advance(time.Second)
	r.poll(t)
	r.mustTrack(t, 1, now)
	r.mustUntrack(t, 2)
}

func TestOlderChangeArrivingLateIsIgnored(t *testing.T) {
	r := newFeedRig(t)
	t0 := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpUnpin, t0.Add(time.Second), t0.Add(time.Second)))
	r.clock.advance(2 * time.Second)
	r.poll(t)
	r.mustUntrack(t, 1)
	// The pin that the unpin replaced shows up now, late, behind the
	// read position: the sweep finds it, and it must lose.
	r.store.addEvent(event(1, scyllastate.OpPin, t0.Add(500*time.Millisecond), t0.Add(500*time.Millisecond)))
	r.clock.advance(testOverlap)
	r.poll(t)
	r.mustUntrack(t, 1)
	if n := r.tracker.trackCount(statetest.Cid(1)); n != 0 {
		t.Fatalf("the older pin was tracked %d times", n)
	}
}

// An event that lands behind the fresh read position (a writer whose
// clock lags, a write that took long) is applied by a sweep, at most 2 ×
// feed_overlap after its ID time.
func TestLateEventWithinOverlapIsApplied(t *testing.T) {
	r := newFeedRig(t)
	t0 := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpPin, t0.Add(time.Second), t0.Add(time.Second)))
	r.clock.advance(2 * time.Second)
	r.poll(t)
	r.mustTrack(t, 1, t0.Add(time.Second))
	late := t0.Add(500 * time.Millisecond)
	r.store.addEvent(event(2, scyllastate.OpPin, late, late))
	r.clock.advance(time.Second)
	r.poll(t) // fresh read: behind its cursor
	r.clock.advance(testOverlap)
	r.poll(t) // the sweep
	r.mustTrack(t, 2, late)
}

// A change re-announced long after it was written (its write timestamp
// is far older than its event) cannot be compared with claims long
// forgotten: it is settled against the row.
func TestOldChangeIsSettledAgainstTheRow(t *testing.T) {
	r := newFeedRig(t)
	now := r.clock.now()
	old := now.Add(-time.Hour)
	newer := now.Add(-30 * time.Minute)

	// Pin 1: deleted after the re-announced pin: stays untracked.
	r.store.writeRow(statetest.Cid(1), nil, newer.UnixMicro())
	r.store.addEvent(event(1, scyllastate.OpPin, now, old))
	// Pin 2: pinned again later: the row's newer pin is tracked.
	p2 := statetest.Pin(2)
	p2.Timestamp = newer
	r.store.writeRow(p2.Cid, &p2, newer.UnixMicro())
	r.store.addEvent(event(2, scyllastate.OpUnpin, now, old))
	// Pin 3: the row is older than the change (its writer died between
	// event and row): the row is rolled forward, the change tracked.
	p3 := statetest.Pin(3)
	p3.Timestamp = old.Add(-time.Hour)
	r.store.writeRow(p3.Cid, &p3, old.Add(-time.Hour).UnixMicro())
	r.store.addEvent(event(3, scyllastate.OpPin, now, old))

	r.clock.advance(time.Second)
	r.poll(t)
	r.mustUntrack(t, 1)
	r.mustTrack(t, 2, newer)
	r.mustTrack(t, 3, old)
	if rv, _ := r.store.ReadVersion(context.Background(), statetest.Cid(3)); !rv.Found || rv.WriteTime != old.UnixMicro() {
		t.Fatalf("row of pin 3 not rolled forward to the change: %+v", rv)
	}
}

// A schema v1 event carries no change: the row is read.
func TestLegacyEventReadsTheRow(t *testing.T) {
	r := newFeedRig(t)
	now := r.clock.now()
	p := statetest.Pin(1)
	p.Timestamp = now
	r.store.writeRow(p.Cid, &p, now.UnixMicro())
	r.store.addEvent(scyllastate.Event{ID: scyllastate.NewEventID(now), Cid: p.Cid, Op: scyllastate.OpPin, Legacy: true})
	r.store.addEvent(scyllastate.Event{ID: scyllastate.NewEventID(now), Cid: statetest.Cid(2), Op: scyllastate.OpPin, Legacy: true})
	r.clock.advance(time.Second)
	r.poll(t)
	r.mustTrack(t, 1, now)
	r.mustUntrack(t, 2)
}

// The writer tells its tracker at once and then reads its own event in
// the feed; both race. Each change must reach the tracker once.
func TestConcurrentDeliveriesTrackOnce(t *testing.T) {
	tr := newFakeTracker()
	a := newApplier(peer.ID("self"), tr, newFakeStore(), nil, 0)
	ctx := context.Background()
	for n := 1; n <= 200; n++ {
		p := statetest.Pin(n)
		ts := time.Now().UnixMicro()
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.apply(ctx, p.Cid, ts, &p, true); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if c := tr.trackCount(p.Cid); c != 1 {
			t.Fatalf("pin %d tracked %d times", n, c)
		}
	}
}

// Changes of one CID applied concurrently end with the newest one told to
// the tracker, whatever the interleaving.
func TestConcurrentChangesEndWithTheNewest(t *testing.T) {
	tr := newFakeTracker()
	a := newApplier(peer.ID("self"), tr, newFakeStore(), nil, 0)
	ctx := context.Background()
	c := statetest.Cid(1)
	base := time.Now().UnixMicro()
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pin *api.Pin
			if i%2 == 0 {
				p := statetest.Pin(1)
				p.Timestamp = time.UnixMicro(base + int64(i))
				pin = &p
			}
			if _, err := a.apply(ctx, c, base+int64(i), pin, true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// The newest change (i=99) is an unpin.
	if p, seen := tr.state(c); !seen || p != nil {
		t.Fatalf("after concurrent changes the tracker holds %v, want the newest change (unpin)", p)
	}
}

// localPin is pin n allocated to every peer (so this peer holds it),
// without expiry.
func localPin(n int) api.Pin {
	p := statetest.Pin(n)
	p.Allocations = nil
	p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
	p.ExpireAt = time.Time{}
	return p
}

// Pins applied at once, while the tracker is still queueing the first
// ones (a Track in flight is not in its queue size yet), are queued up to
// pin_queue_limit and no further: the rest wait in the deferred set.
func TestConcurrentPinsAreNotQueuedPastTheLimit(t *testing.T) {
	const limit, pins = 10, 40
	ctx := context.Background()
	tr := newFakeTracker()
	tr.countQueue = true
	release := make(chan struct{})
	var inTrack sync.WaitGroup
	tr.onTrack = func() { inTrack.Done(); <-release }
	a := newApplier(peer.ID("self"), tr, newFakeStore(), nil, limit)
	ts := time.Now().Add(-time.Minute).UnixMicro()

	// tell, without the per-CID lock of its callers: two CIDs may share
	// a lock stripe, and the first pins' Tracks hold theirs.
	var applied sync.WaitGroup
	apply := func(n int) {
		defer applied.Done()
		p := localPin(n)
		if err := a.tell(ctx, p.Cid.KeyString(), p.Cid, ts, &p); err != nil {
			t.Error(err)
		}
	}
	// limit pins reach Track and stay there; then the others come.
	inTrack.Add(limit)
	applied.Add(pins)
	for n := 1; n <= limit; n++ {
		go apply(n)
	}
	reached := make(chan struct{})
	go func() { inTrack.Wait(); close(reached) }()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatalf("the first %d pins, with room in the queue, did not all reach Track", limit)
	}
	tr.mu.Lock()
	tr.onTrack = nil
	tr.mu.Unlock()
	for n := limit + 1; n <= pins; n++ {
		go apply(n)
	}
	// Those that will not be queued are deferred without waiting for
	// the Tracks in flight.
	deadline := time.Now().Add(10 * time.Second)
	for a.deferred.len() < pins-limit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	applied.Wait()
	tracked := 0
	for n := 1; n <= pins; n++ {
		tracked += tr.trackCount(statetest.Cid(n))
	}
	if tracked != limit || a.deferred.len() != pins-limit {
		t.Fatalf("%d of %d pins applied at once were queued and %d deferred; want %d queued (pin_queue_limit) and %d deferred",
			tracked, pins, a.deferred.len(), limit, pins-limit)
	}
}

// When the tracker queue is full, pins wait in the deferred set instead
// of being queued without bound; once there is room they are tracked,
// newest first, each as its row holds it then: a pin unpinned meanwhile
// is not tracked, a pin whose row does not show it yet waits.
func TestFullQueueDefersPins(t *testing.T) {
	ctx := context.Background()
	tr := newFakeTracker()
	tr.queue, tr.countQueue = 500, true
	st := newFakeStore()
	clk := &clock{t: time.Now()}
	a := newApplier(peer.ID("self"), tr, st, nil, 100)
	a.now = clk.now
	base := clk.now().Add(-time.Minute)
	ts := func(n int) int64 { return base.Add(time.Duration(n) * time.Second).UnixMicro() }
	for n := 1; n <= 5; n++ {
		p := localPin(n)
		if n != 5 { // 5: its event is read before its row is written
			st.writeRow(p.Cid, &p, ts(n))
		}
		if _, err := a.apply(ctx, p.Cid, ts(n), &p, true); err != nil {
			t.Fatal(err)
		}
	}
	// 4 is unpinned before there is room; the feed has not read the
	// unpin yet, its row says so.
	st.writeRow(statetest.Cid(4), nil, ts(10))
	for n := 1; n <= 5; n++ {
		if tr.trackCount(statetest.Cid(n)) != 0 {
			t.Fatalf("pin %d was queued beyond pin_queue_limit", n)
		}
	}
	if n := a.deferred.len(); n != 5 {
		t.Fatalf("%d deferred pins, want 5", n)
	}

	// Room for two pins: the newest two that can be tracked are.
	tr.setQueue(98)
	if _, err := a.drainDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := tr.trackOrder(), []string{statetest.Cid(3).KeyString(), statetest.Cid(2).KeyString()}; !slices.Equal(got, want) {
		t.Fatalf("tracked %v, want pins 3 then 2", pinNumbers(got, 10))
	}
	if tr.trackCount(statetest.Cid(4)) != 0 {
		t.Fatal("a deferred pin unpinned meanwhile was tracked")
	}

	// More room, and 5's row is written: everything left is tracked.
	p5 := localPin(5)
	st.writeRow(p5.Cid, &p5, ts(5))
	tr.setQueue(0)
	clk.advance(maxDeferredBackoff)
	if _, err := a.drainDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 5} {
		if tr.trackCount(statetest.Cid(n)) != 1 {
			t.Fatalf("deferred pin %d tracked %d times, want once", n, tr.trackCount(statetest.Cid(n)))
		}
	}
	if tr.trackCount(statetest.Cid(4)) != 0 {
		t.Fatal("a deferred pin unpinned meanwhile was tracked")
	}
	if n := a.deferred.len(); n != 0 {
		t.Fatalf("%d pins still deferred after all were tracked", n)
	}
	// The claims record what the tracker was told: the pin's change,
	// read again, is not tracked twice.
	if out, _ := a.apply(ctx, statetest.Cid(2), ts(2), ptr(localPin(2)), true); out != older {
		t.Fatalf("the change of a deferred pin applied again after it was tracked: %v", out)
	}
}

func ptr[T any](v T) *T { return &v }

// pinNumbers names the CID keys by their test pin number (below n).
func pinNumbers(keys []string, n int) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = "?"
		for m := range n {
			if statetest.Cid(m).KeyString() == k {
				names[i] = fmt.Sprintf("pin %d", m)
			}
		}
	}
	return names
}

// A deferred pin whose unpin the feed applies is dropped from the
// deferred set: never tracked.
func TestDeferredPinUnpinnedByTheFeedIsNotTracked(t *testing.T) {
	ctx := context.Background()
	tr := newFakeTracker()
	tr.queue = 500
	st := newFakeStore()
	a := newApplier(peer.ID("self"), tr, st, nil, 100)
	p := localPin(1)
	ts := time.Now().UnixMicro()
	st.writeRow(p.Cid, &p, ts)
	if _, err := a.apply(ctx, p.Cid, ts, &p, true); err != nil {
		t.Fatal(err)
	}
	st.writeRow(p.Cid, nil, ts+1)
	if _, err := a.apply(ctx, p.Cid, ts+1, nil, true); err != nil {
		t.Fatal(err)
	}
	if n := a.deferred.len(); n != 0 {
		t.Fatalf("%d pins deferred after the unpin", n)
	}
	tr.setQueue(0)
	if _, err := a.drainDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if tr.trackCount(p.Cid) != 0 {
		t.Fatal("a pin unpinned while deferred was tracked")
	}
}

// samePartition returns a CID number other than n whose events at time at
// go to the same feed partition as n's.
func samePartition(t *testing.T, n int, at time.Time) int {
	t.Helper()
	want := partitionOf(event(n, scyllastate.OpPin, at, at))
	for m := n + 1; m < n+10000; m++ {
		if partitionOf(event(m, scyllastate.OpPin, at, at)) == want {
			return m
		}
	}
	t.Fatal("no CID in the same partition")
	return 0
}

// Reads fail for many times W in a row. Meanwhile events land late:
// behind the cursor of the last read that worked (same partition, older
// ID), and events are written on time that the reads miss. Once reads
// work again, every one of them is applied.
func TestLateEventsAfterLongReadFailuresAreApplied(t *testing.T) {
	r := newFeedRig(t)
	ctx := context.Background()
	t0 := r.clock.now()
	lateAt := t0.Add(500 * time.Millisecond) // behind the cursor event 1 leaves
	cursorAt := lateAt.Add(time.Millisecond)
	r.store.addEvent(event(1, scyllastate.OpPin, cursorAt, cursorAt))
	r.clock.advance(time.Second)
	r.poll(t)
	r.mustTrack(t, 1, cursorAt)

	late := samePartition(t, 1, cursorAt)
	r.store.failReads(-1)
	for i := range 30 { // 15 W of failed reads
		r.clock.advance(testOverlap / 2)
		switch i {
		case 0: // within W of its ID: the late event lands
			r.store.addEvent(event(late, scyllastate.OpPin, lateAt, lateAt))
			r.store.addEvent(event(1, scyllastate.OpUnpin, lateAt.Add(time.Second), lateAt.Add(time.Second)))
		case 10: // on time, while reads fail
			now := r.clock.now()
			r.store.addEvent(event(3, scyllastate.OpPin, now, now))
		}
		if err := r.feed.poll(ctx); err == nil {
			t.Fatalf("poll %d: a failed read reported no error", i)
		}
	}
	r.store.failReads(0)
	r.clock.advance(time.Second)
	r.poll(t)
	r.mustTrack(t, late, lateAt)
	r.mustUntrack(t, 1)
	if p, _ := r.tracker.state(statetest.Cid(3)); p == nil {
		t.Fatal("an event written while reads failed was not applied")
	}
}

// A sweep that runs late (the poll after W came late) still reads from
// the position: an event that landed just after the previous sweep,
// behind the fresh read's cursor, is applied.
func TestLateSweepMissesNothing(t *testing.T) {
	r := newFeedRig(t)
	r.clock.advance(testOverlap)
	// Issued 2s after the position the sweep below leaves (now-W),
	// visible only after that sweep (within W of its ID), behind the
	// cursor that event 1 (same partition) leaves.
	lateAt := r.clock.now().Add(-testOverlap + 2*time.Second)
	cursorAt := lateAt.Add(time.Millisecond)
	r.store.addEvent(event(1, scyllastate.OpPin, cursorAt, cursorAt))
	r.poll(t) // fresh read (cursor) and sweep
	r.mustTrack(t, 1, cursorAt)
	late := samePartition(t, 1, cursorAt)
	r.clock.advance(time.Second)
	r.store.addEvent(event(late, scyllastate.OpPin, lateAt, lateAt))
	r.clock.advance(testOverlap + 4*time.Second) // the next sweep, 5s late
	r.poll(t)
	r.mustTrack(t, late, lateAt)
}

// Reads that fail for longer than event_retention lose events: the feed
// reports it (a full repair follows) and goes on from the oldest event
// kept. A catch-up from a checkpoint older than event_retention reports
// it too.
func TestReadsFailingLongerThanRetentionReportAGap(t *testing.T) {
	r := newFeedRig(t)
	ctx := context.Background()
	var gaps []time.Time
	r.feed.onGap = func(from, to time.Time) { gaps = append(gaps, from) }
	r.feed.cfg.retention = 2 * time.Minute
	r.store.failReads(-1)
	for range 6 {
		r.clock.advance(time.Minute)
		_ = r.feed.poll(ctx)
	}
	if len(gaps) != 0 {
		t.Fatal("a gap reported while reads failed")
	}
	r.store.failReads(0)
	now := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpPin, now.Add(-time.Minute), now.Add(-time.Minute)))
	r.clock.advance(time.Second)
	r.poll(t)
	if len(gaps) != 1 {
		t.Fatalf("%d gaps reported after reads failed for longer than event_retention, want 1", len(gaps))
	}
	r.mustTrack(t, 1, now.Add(-time.Minute))
	r.clock.advance(testOverlap)
	r.poll(t)
	if len(gaps) != 1 {
		t.Fatalf("%d gaps reported, want 1: the feed did not go on from the oldest event kept", len(gaps))
	}

	// A peer back after longer than event_retention.
	r.feed.close(ctx)
	r.clock.advance(time.Hour)
	back := newFeed(r.store, newApplier(peer.ID("self"), r.tracker, r.store, nil, 0), r.feed.cfg, nil)
	back.now = r.clock.now
	var backGaps int
	back.onGap = func(from, to time.Time) { backGaps++ }
	if _, err := back.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if backGaps != 1 {
		t.Fatalf("catch-up from a checkpoint older than event_retention reported %d gaps, want 1", backGaps)
	}
}

func TestFailedReadIsRetriedAndNothingIsLost(t *testing.T) {
	r := newFeedRig(t)
	now := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpPin, now, now))
	r.store.failReads(1)
	r.clock.advance(time.Second)
	if err := r.feed.poll(context.Background()); err == nil {
		t.Fatal("a failed read reported no error")
	}
	r.poll(t)
	r.mustTrack(t, 1, now)
}

func TestCatchUpAppliesChangesMadeWhileAway(t *testing.T) {
	r := newFeedRig(t)
	if err := r.feed.poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.feed.close(context.Background())
	saved := r.store.ckpts["self"]

	// While the peer is away for an hour: a pin, an unpin, and a pin
	// pinned then unpinned.
	away := saved.Add(time.Minute)
	r.store.addEvent(event(1, scyllastate.OpPin, away, away))
	r.store.addEvent(event(2, scyllastate.OpUnpin, away.Add(10*time.Minute), away.Add(10*time.Minute)))
	r.store.addEvent(event(3, scyllastate.OpPin, away.Add(20*time.Minute), away.Add(20*time.Minute)))
	r.store.addEvent(event(3, scyllastate.OpUnpin, away.Add(40*time.Minute), away.Add(40*time.Minute)))
	r.clock.advance(time.Hour)

	back := newFeed(r.store, newApplier(peer.ID("self"), r.tracker, r.store, nil, 0), r.feed.cfg, nil)
	back.now = r.clock.now
	returning, err := back.catchUp(context.Background())
	if err != nil || !returning {
		t.Fatalf("catch-up: returning=%v err=%v", returning, err)
	}
	r.mustTrack(t, 1, away)
	r.mustUntrack(t, 2)
	r.mustUntrack(t, 3)
}

// An idle peer's poll costs one query per minute of feed read, however
// many partitions a minute has; events of every partition are applied,
// each once.
func TestFreshReadIsOneQueryPerBucket(t *testing.T) {
	r := newFeedRig(t)
	r.clock.advance(time.Second)
	r.store.mu.Lock()
	r.store.queries = 0
	r.store.mu.Unlock()
	for range 5 {
		r.clock.advance(100 * time.Millisecond)
		r.poll(t)
	}
	r.store.mu.Lock()
	q := r.store.queries
	r.store.mu.Unlock()
	if q > 5*2 { // a poll spans one bucket, two at a minute's turn
		t.Fatalf("5 idle polls made %d queries over %d partitions per minute: want one per minute read", q, fakePartitions)
	}
	now := r.clock.now()
	for n := 1; n <= 3*fakePartitions; n++ {
		r.store.addEvent(event(n, scyllastate.OpPin, now, now))
	}
	r.clock.advance(time.Second)
	r.poll(t)
	r.poll(t)
	for n := 1; n <= 3*fakePartitions; n++ {
		r.mustTrack(t, n, now)
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 1 {
			t.Fatalf("pin %d tracked %d times: cursors per partition must not re-read it", n, c)
		}
	}
}

func TestGroupParts(t *testing.T) {
	var parts []scyllastate.Partition
	for b := int64(10); b < 13; b++ {
		for s := range 5 {
			parts = append(parts, scyllastate.Partition{Bucket: b, Shard: int8(s)})
		}
	}
	whole := groupParts(parts, wholeBuckets)
	if len(whole) != 3 || len(whole[0]) != 5 {
		t.Fatalf("whole buckets: %d groups of %d", len(whole), len(whole[0]))
	}
	two := groupParts(parts, 2)
	if len(two) != 9 { // 2+2+1 per bucket
		t.Fatalf("groups of 2: %d, want 9", len(two))
	}
	seen := 0
	for _, g := range two {
		for _, p := range g {
			if p.Bucket != g[0].Bucket {
				t.Fatalf("a group spans buckets: %v", g)
			}
			seen++
		}
	}
	if seen != len(parts) {
		t.Fatalf("%d partitions grouped, want %d", seen, len(parts))
	}
}

// A partition the activity index misses (its writer failed to record it)
// is not read by the fresh reads, but the next sweep applies its events:
// the index only speeds changes up.
func TestPartitionMissingFromTheIndexIsReadBySweep(t *testing.T) {
	r := newFeedRig(t)
	r.clock.advance(time.Second)
	now := r.clock.now()
	e := event(1, scyllastate.OpPin, now, now)
	r.store.hideActivity(e)
	r.store.addEvent(e)
	r.clock.advance(time.Second)
	r.poll(t)
	if _, seen := r.tracker.state(statetest.Cid(1)); seen {
		t.Fatal("a fresh read found an event of a partition the index does not name")
	}
	r.clock.advance(testOverlap)
	r.poll(t)
	r.mustTrack(t, 1, now)
}

// Hints from many busy peers must not make a peer read back to back: the
// reads they trigger are at least wakeGap apart, and a change is still
// read within about wakeGap of its hint.
func TestHintsReadAtMostOncePerGap(t *testing.T) {
	r := newFeedRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.feed.run(ctx) }()
	defer func() { cancel(); <-done }()

	queries := func() int {
		r.store.mu.Lock()
		defer r.store.mu.Unlock()
		return r.store.queries
	}
	before := queries()
	start := time.Now()
	for time.Since(start) < time.Second { // 24 peers' hints: one every 2 ms
		r.feed.wakeUp()
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// Each read of the rig is at most 2 queries (one bucket, two at a
	// minute's turn); reads at least wakeGap apart, plus the first.
	reads := int(elapsed/wakeGap) + 1
	if q := queries() - before; q > 2*reads+2 {
		t.Fatalf("%d hints in %s made %d queries: want at most %d reads (one per %s)", int(elapsed/(2*time.Millisecond)), elapsed.Round(time.Millisecond), q, reads, wakeGap)
	} else if q == 0 {
		t.Fatal("hints made no read")
	}

	// A change and its hint: tracked within the gap (and some slack).
	r.clock.advance(time.Second)
	now := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpPin, now, now))
	r.feed.wakeUp()
	deadline := time.Now().Add(wakeGap + 500*time.Millisecond)
	for {
		if p, seen := r.tracker.state(statetest.Cid(1)); seen && p != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a hinted change was not read within %s", wakeGap+500*time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A steady stream of changes is read twice by a peer: once by a fresh
// read, as it comes, and once by a sweep, once it is settled (older than
// W). A sweep that re-read the last 2W would read each change a third
// time: with many peers on one keyspace, that is most of what the
// database does for the feed.
func TestSweepsReadEachChangeOnce(t *testing.T) {
	r := newFeedRig(t)
	const changes = 200 // one each 250 ms: 5 W
	for n := 1; n <= changes; n++ {
		r.clock.advance(250 * time.Millisecond)
		at := r.clock.now()
		r.store.addEvent(event(n, scyllastate.OpPin, at, at))
		r.clock.advance(time.Millisecond)
		r.poll(t)
	}
	// Until every change is W old: the sweeps read the last ones.
	for range 3 {
		r.clock.advance(testOverlap / 2)
		r.poll(t)
	}
	for n := 1; n <= changes; n++ {
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 1 {
			t.Fatalf("change %d tracked %d times, want once", n, c)
		}
	}
	r.store.mu.Lock()
	read := r.store.read
	r.store.mu.Unlock()
	if read > 2*changes {
		t.Fatalf("%d changes read %d times in all, want at most twice each (%d)", changes, read, 2*changes)
	}
}

// A sweep that takes long (a burst of changes to re-read, a slow
// database) holds up no fresh read: a change made meanwhile is applied
// at once, not when the sweep ends.
func TestFreshReadsGoOnBesideALongSweep(t *testing.T) {
	r := newFeedRig(t)
	r.clock.advance(testOverlap + time.Second) // a sweep is due
	gate := make(chan struct{})
	r.store.mu.Lock()
	r.store.gate, r.store.gateBefore, r.store.gated = gate, r.clock.now().Add(-testOverlap/2), make(chan struct{}, 1)
	gated := r.store.gated
	r.store.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.feed.run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-gated:
	case <-time.After(10 * time.Second):
		t.Fatal("no sweep started")
	}

	now := r.clock.now()
	r.store.addEvent(event(1, scyllastate.OpPin, now, now))
	r.clock.advance(time.Millisecond)
	r.feed.wakeUp()
	deadline := time.Now().Add(5 * time.Second)
	for r.tracker.trackCount(statetest.Cid(1)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a change made during a long sweep was not applied until the sweep ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before, _ := r.feed.bounds()
	close(gate)
	for {
		if pos, _ := r.feed.bounds(); pos.After(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not end once the database answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
