package scylla

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// A burst of pins larger than the tracker queue and the deferred set
// together costs the peer no more memory than those bounds: the pins kept
// nowhere are tracked by a recover pass over the pinset once their rows
// are settled (feed_overlap). Their claims still order later changes: an
// older unpin delivered late is ignored, a newer one wins over the pass.
func TestBurstBeyondTheDeferredSetIsTrackedByARecoverPass(t *testing.T) {
	const (
		queue    = 2
		deferred = 5
		burst    = 40
	)
	r := newUpkeepRig(queue)
	r.apply.deferred.limit = deferred
	r.u.cfg.overlap = 200 * time.Millisecond
	r.tracker.countQueue = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	now := time.Now()
	ts := func(n int) int64 { return now.Add(time.Duration(n) * time.Millisecond).UnixMicro() }
	for n := 1; n <= burst; n++ {
		p := r.pin(n, now.Add(time.Duration(n)*time.Millisecond))
		if _, err := r.apply.apply(ctx, p.Cid, ts(n), &p, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.apply.deferred.len(); got != deferred {
		t.Fatalf("%d pins deferred, want the set's bound %d", got, deferred)
	}
	left, _ := r.apply.overflow.due(time.Now(), 0)
	if want := int64(burst - queue - deferred); left != want || r.apply.overflow.totalCount() != want {
		t.Fatalf("%d pins left to a recover pass (counted %d for the metric), want %d", left, r.apply.overflow.totalCount(), want)
	}
	// Pin burst was kept nowhere: an older unpin of it, read late, is
	// still older than its claim. Pin burst-1 is unpinned after it.
	last := statetest.Cid(burst)
	if o, err := r.apply.apply(ctx, last, ts(burst)-1, nil, true); err != nil || o != older {
		t.Fatalf("an older unpin of a pin kept nowhere: %v, %v; want it ignored", o, err)
	}
	gone := statetest.Cid(burst - 1)
	r.unpin(burst-1, now.Add(time.Second))
	if o, err := r.apply.apply(ctx, gone, now.Add(time.Second).UnixMicro(), nil, true); err != nil || o != applied {
		t.Fatalf("a newer unpin of a pin kept nowhere: %v, %v; want it applied", o, err)
	}

	// The tracker works through its queue; the upkeep runs.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			r.tracker.mu.Lock()
			r.tracker.queue = max(r.tracker.queue-1, 0)
			r.tracker.mu.Unlock()
			if n := r.apply.deferred.len(); n > deferred {
				t.Errorf("the deferred set holds %d pins, beyond its bound %d", n, deferred)
			}
		}
	}()
	go func() { defer wg.Done(); r.u.run(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		missing := 0
		for n := 1; n < burst-1; n++ {
			if r.tracker.trackCount(statetest.Cid(n)) == 0 {
				missing++
			}
		}
		if r.tracker.trackCount(last) == 0 {
			missing++
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pins of the burst never tracked", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := r.tracker.state(gone); p != nil {
		t.Fatal("the recover pass tracked a pin unpinned after the burst")
	}
	// The pass ends (and counts them covered) after its last Track.
	for n, _ := r.apply.overflow.due(time.Now(), 0); n != 0; n, _ = r.apply.overflow.due(time.Now(), 0) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pins still wait for a recover pass after it tracked them", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A recover pass covers the pins left to it up to feed_overlap before it
// started to read (their rows written by then); the later ones wait for
// the next pass, due once they are feed_overlap old.
func TestRecoverPassCoversSettledOverflowsOnly(t *testing.T) {
	const settle = time.Minute
	var o overflow
	t0 := time.Unix(1000, 0)
	if _, due := o.due(t0, settle); due {
		t.Fatal("a pass is due with nothing left to one")
	}
	o.note(t0)
	o.note(t0.Add(10 * time.Second))
	if _, due := o.due(t0.Add(settle-time.Second), settle); due {
		t.Fatal("a pass is due before the first pin left to it is settled")
	}
	if n, due := o.due(t0.Add(settle), settle); !due || n != 2 {
		t.Fatalf("due %v with %d pins, want due with 2", due, n)
	}
	if got := o.settledAt(settle); !got.Equal(t0.Add(10*time.Second + settle)) {
		t.Fatalf("settled at %s, want the newest + feed_overlap", got)
	}
	// A pass that started 65 s after the first: the second (10 s) is not
	// settled then.
	o.covered(t0.Add(settle+5*time.Second), settle)
	if _, due := o.due(t0.Add(settle+5*time.Second), settle); due {
		t.Fatal("the next pass is due at once, before the pin it did not cover is settled")
	}
	if _, due := o.due(t0.Add(settle+10*time.Second), settle); !due {
		t.Fatal("the pin the pass did not cover gets no pass of its own")
	}
	o.covered(t0.Add(settle+10*time.Second), settle)
	if n, due := o.due(t0.Add(time.Hour), settle); due || n != 0 {
		t.Fatalf("after a pass that covers them all: due %v with %d pins", due, n)
	}
}

// A recover pass for pins kept nowhere reads the pinset no faster than
// repair_read_rate: most of what it reads, IPFS holds, and it would
// otherwise read the whole pinset and ask IPFS as fast as they answer.
func TestOverflowPassReadsAtRepairReadRate(t *testing.T) {
	const pins, rate = 200, 1000
	r := newUpkeepRig(10)
	r.u.cfg.readRate = rate
	now := time.Now()
	for n := 1; n <= pins; n++ {
		p := r.pin(n, now)
		r.calls.pin(p.Cid)
	}
	start := time.Now()
	if err := r.u.fullPass(context.Background(), overflowed, "test"); err != nil {
		t.Fatal(err)
	}
	// It waits after every slice but the last: about 3/4 of 200 ms.
	if took, least := time.Since(start), time.Duration(float64(pins)*(testSlices-1)/testSlices/rate*float64(time.Second))*9/10; took < least {
		t.Fatalf("the pass read %d pins in %s, faster than %d a second (at least %s)", pins, took, rate, least)
	}
	for n := 1; n <= pins; n++ {
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 0 {
			t.Fatalf("pin %d, which IPFS holds, tracked %d times", n, c)
		}
	}
}

// A pin left to a recover pass is tracked by the first pass even when its
// writer writes the row after the event (within feed_overlap) and the
// writer's clock is an hour behind this peer's: the pass waits for the
// rows by this peer's clock (when its feed saw the changes), never by the
// writer's timestamps, so no second pass is needed.
func TestRecoverPassWaitsForLateRowsOfASkewedWriter(t *testing.T) {
	const (
		burst   = 12
		overlap = time.Second
		late    = 200 * time.Millisecond // the rows land after their events
	)
	r := newUpkeepRig(1)
	r.apply.deferred.limit = 1
	r.u.cfg.overlap = overlap
	r.tracker.setQueue(1) // full: pin 1 is deferred, the others kept nowhere
	ctx := context.Background()

	writer := time.Now().Add(-time.Hour) // the writer's clock
	pins := make([]api.Pin, burst+1)
	for n := 1; n <= burst; n++ {
		pins[n] = localPin(n)
		ts := writer.Add(time.Duration(n) * time.Microsecond).UnixMicro()
		if _, err := r.apply.apply(ctx, pins[n].Cid, ts, &pins[n], true); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := r.apply.overflow.due(time.Now(), 0); left != burst-1 {
		t.Fatalf("%d pins left to a recover pass, want %d", left, burst-1)
	}
	r.apply.deferred.remove(pins[1].Cid.KeyString())
	r.tracker.setQueue(0)
	rowsWritten := make(chan struct{})
	go func() {
		defer close(rowsWritten)
		time.Sleep(late)
		for n := 1; n <= burst; n++ {
			r.store.writeRow(pins[n].Cid, &pins[n], writer.Add(time.Duration(n)*time.Microsecond).UnixMicro())
		}
	}()
	defer func() { <-rowsWritten }()

	r.u.overflowPass(ctx, overflowed, "test")
	for n := 2; n <= burst; n++ {
		if r.tracker.trackCount(pins[n].Cid) != 1 {
			t.Fatalf("pin %d, left to the pass, tracked %d times by it, want once: the pass read before its row was written",
				n, r.tracker.trackCount(pins[n].Cid))
		}
	}
	if left, _ := r.apply.overflow.due(time.Now(), 0); left != 0 {
		t.Fatalf("%d pins still wait for another pass after one pass that started once their rows were written", left)
	}
}

// firstStartRig is a peer's feed and upkeep on a shared (fake) store, on
// the real clock, before its first start.
type firstStartRig struct {
	store   *fakeStore
	tracker *fakeTracker
	feed    *feed
	u       *upkeep
	overlap time.Duration
}

func newFirstStartRig(overlap time.Duration, burstLimit int64) *firstStartRig {
	r := newUpkeepRig(100)
	r.u.cfg.overlap = overlap
	cfg := testFeedSettings(overlap)
	cfg.burstLimit = burstLimit
	f := newFeed(r.store, r.apply, cfg, nil)
	r.u.feedSwept = f.swept
	return &firstStartRig{store: r.store, tracker: r.tracker, feed: f, u: r.u, overlap: overlap}
}

// write is a change by another peer: its event at at, its row late after.
func (r *firstStartRig) write(n int, op scyllastate.Op, at time.Time, late time.Duration, wg *sync.WaitGroup) {
	e := event(n, op, at, at)
	if op == scyllastate.OpPin {
		p := localPin(n)
		p.Timestamp = at
		e.Pin = &p
	}
	r.store.addEvent(e)
	wg.Add(1)
	time.AfterFunc(late, func() {
		defer wg.Done()
		r.store.writeRow(e.Cid, e.Pin, at.UnixMicro())
	})
}

// start is the first start: catch-up (none), the first read of the feed,
// then the first start's recover pass (as upkeep.repairLoop runs it).
func (r *firstStartRig) start(t *testing.T, ctx context.Context) (passStart time.Time) {
	t.Helper()
	if returning, err := r.feed.catchUp(ctx); err != nil || returning {
		t.Fatalf("catch-up: returning %v, %v; want a first start", returning, err)
	}
	if err := r.feed.poll(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// A first start just after a burst larger than what the peer can hold
// (an import of millions) does not read the burst from the change feed:
// every new peer would read it at once. The first start's recover pass
// tracks each pin of the burst once, from its row, waiting until the
// rows are written (a row lands within feed_overlap after its event is
// visible, and an event within feed_overlap after its ID time). Changes
// after the start are read by the feed as usual.
func TestFirstStartJustAfterABurstLeavesItToTheRecoverPass(t *testing.T) {
	const (
		burst   = 20
		overlap = 300 * time.Millisecond
	)
	r := newFirstStartRig(overlap, 5)
	ctx := context.Background()
	var rows sync.WaitGroup
	defer rows.Wait()
	t0 := time.Now()
	for n := 1; n <= burst; n++ {
		at := t0.Add(-overlap/2 + time.Duration(n)*time.Millisecond)
		r.write(n, scyllastate.OpPin, at, 2*overlap-50*time.Millisecond, &rows) // rows land just before S+2W
	}
	r.write(burst+1, scyllastate.OpPin, t0.Add(-overlap/2), 0, &rows)
	r.write(burst+1, scyllastate.OpUnpin, t0.Add(-overlap/2+time.Millisecond), overlap, &rows)

	start := time.Now()
	r.start(t, ctx)
	// The first start's pass begins at once, as upkeep.repairLoop runs
	// it, beside the feed's reads.
	passDone := make(chan struct{})
	go func() { defer close(passDone); r.u.overflowPass(ctx, paced, "first start of this peer") }()
	for n := 1; n <= burst+1; n++ {
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 0 {
			t.Fatalf("pin %d of the burst tracked %d times by the feed's first read, want 0: it reads no burst larger than burst_limit", n, c)
		}
	}
	select {
	case <-r.feed.swept:
	default:
		t.Fatal("the feed's first read left the burst to the pass but the pass is still told to wait for a sweep")
	}
	// A change after the start by a writer whose clock lags W/2: its
	// event's ID time is before the floor, so the feed never reads it;
	// its row lands late (W after): the pass, reading 2W after the
	// start, must find it.
	r.write(101, scyllastate.OpPin, time.Now().Add(-overlap/2), overlap, &rows)
	// A change after the start: the feed reads it.
	after := time.Now()
	r.write(100, scyllastate.OpPin, after, 0, &rows)
	if err := r.feed.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if c := r.tracker.trackCount(statetest.Cid(100)); c != 1 {
		t.Fatalf("a pin made after the start tracked %d times by the feed, want once", c)
	}
	// The next sweep (W later) re-reads [now-2W, now-W], the burst's
	// time: it still leaves the burst to the pass.
	time.Sleep(time.Until(start.Add(overlap + 20*time.Millisecond)))
	if err := r.feed.poll(ctx); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= burst; n++ {
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 0 {
			t.Fatalf("pin %d of the burst tracked %d times by the reads (fresh and sweep) W after the first, want 0", n, c)
		}
	}

	<-passDone
	if took := time.Since(start); took < 2*overlap {
		t.Fatalf("the pass ended %s after the start, before the burst's rows could all be written (2 × feed_overlap)", took)
	}
	for n := 1; n <= burst; n++ {
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 1 {
			t.Fatalf("pin %d of the burst tracked %d times, want once by the pass", n, c)
		}
	}
	if p, _ := r.tracker.state(statetest.Cid(burst + 1)); p != nil {
		t.Fatal("a pin unpinned within the burst was tracked")
	}
	if c := r.tracker.trackCount(statetest.Cid(101)); c != 1 {
		t.Fatalf("a pin made after the start by a writer whose clock lags (ID before the floor, row late) tracked %d times, want once by the pass", c)
	}
	if n, due := r.u.apply.overflow.due(time.Now().Add(time.Hour), overlap); due {
		t.Fatalf("another pass is due after the first start's (%d pins): the first did not cover the burst", n)
	}
}

// A first start after a burst the peer can hold reads it from the feed
// at once, as any change: its pins are tracked before the recover pass
// starts.
func TestFirstStartJustAfterASmallBurstReadsIt(t *testing.T) {
	const overlap = 300 * time.Millisecond
	r := newFirstStartRig(overlap, 5)
	ctx := context.Background()
	var rows sync.WaitGroup
	defer rows.Wait()
	t0 := time.Now()
	for n := 1; n <= 5; n++ {
		r.write(n, scyllastate.OpPin, t0.Add(-overlap+time.Duration(n)*time.Millisecond), 0, &rows)
	}
	rows.Wait()
	r.start(t, ctx)
	for n := 1; n <= 5; n++ {
		if c := r.tracker.trackCount(statetest.Cid(n)); c != 1 {
			t.Fatalf("pin %d of a burst of 5 (limit 5) tracked %d times by the first read, want once", n, c)
		}
	}
	if _, due := r.u.apply.overflow.due(time.Now().Add(time.Hour), overlap); due {
		t.Fatal("a small burst, read by the feed, was left to a recover pass")
	}
}
