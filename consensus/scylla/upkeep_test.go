package scylla

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

const testSlices = 4

type upkeepRig struct {
	store   *fakeStore
	tracker *fakeTracker
	calls   *fakeCalls
	apply   *applier
	u       *upkeep
}

func newUpkeepRig(limit int) *upkeepRig {
	self := peer.ID("self")
	r := &upkeepRig{store: newFakeStore(), tracker: newFakeTracker(), calls: newFakeCalls(self)}
	r.apply = newApplier(self, r.tracker, r.store, nil, limit)
	r.u = newUpkeep(self, upkeepSettings{
		slices:            testSlices,
		repairInterval:    time.Hour,
		recoverInterval:   time.Hour,
		stateSyncInterval: time.Hour,
		queueLimit:        limit,
		retention:         24 * time.Hour,
		timeout:           time.Second,
	}, r.store, r.apply, r.calls, nil)
	return r
}

// pin stores pin n allocated here, written at ts.
func (r *upkeepRig) pin(n int, ts time.Time) api.Pin {
	p := localPin(n)
	r.store.writeRow(p.Cid, &p, ts.UnixMicro())
	return p
}

// unpin leaves the marker of an unpin of n at ts.
func (r *upkeepRig) unpin(n int, ts time.Time) {
	r.store.writeRow(statetest.Cid(n), nil, ts.UnixMicro())
}

// repairAll repairs every slice once.
func (r *upkeepRig) repairAll(t *testing.T, mode repairMode) {
	t.Helper()
	for i := range testSlices {
		if _, err := r.u.repairSlice(context.Background(), i, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// The repair tracks a pin of the pinset that this peer should hold and
// IPFS lacks (a pin the feed missed), and only those.
func TestRepairTracksMissedPins(t *testing.T) {
	r := newUpkeepRig(100)
	ctx := context.Background()
	now := time.Now()
	missed := r.pin(1, now)
	held := r.pin(2, now)
	r.calls.pin(held.Cid)
	remote := statetest.Pin(4) // allocated to other peers
	r.store.writeRow(remote.Cid, &remote, now.UnixMicro())
	// 5: the row still holds the pin, the applier already applied a
	// newer unpin (its row write is behind): the unpin wins.
	r.pin(5, now)
	if _, err := r.apply.apply(ctx, statetest.Cid(5), now.Add(time.Second).UnixMicro(), nil, true); err != nil {
		t.Fatal(err)
	}

	r.repairAll(t, periodic)
	if p, _ := r.tracker.state(missed.Cid); p == nil {
		t.Fatal("a pin IPFS lacks was not tracked")
	}
	for _, c := range []api.Cid{held.Cid, remote.Cid, statetest.Cid(5)} {
		if n := r.tracker.trackCount(c); n != 0 {
			t.Fatalf("%s tracked %d times: IPFS holds it, it is remote, or a newer unpin was applied", c, n)
		}
	}
	// The claim records the repair: the feed's copy of the same change
	// is not tracked again.
	if out, _ := r.apply.apply(ctx, missed.Cid, now.UnixMicro(), &missed, true); out != older {
		t.Fatalf("the change the repair tracked was applied again: %v", out)
	}
}

// The repair untracks a CID unpinned within event_retention (the marker
// its unpin leaves) that IPFS still holds: an unpin the feed missed. A
// marker whose CID IPFS does not hold, or whose CID the applier saw
// pinned again later, is left alone.
func TestMarkerPinnedInIPFSIsUntracked(t *testing.T) {
	r := newUpkeepRig(100)
	ctx := context.Background()
	now := time.Now()
	r.unpin(1, now) // missed: IPFS still holds it
	r.calls.pin(statetest.Cid(1))
	r.unpin(3, now) // direct pin missed
	r.calls.pin(statetest.Cid(3))
	r.unpin(2, now) // IPFS does not hold it
	r.unpin(4, now) // pinned again since: the feed applied it, the row is behind
	r.calls.pin(statetest.Cid(4))
	p4 := localPin(4)
	if _, err := r.apply.apply(ctx, p4.Cid, now.Add(time.Second).UnixMicro(), &p4, true); err != nil {
		t.Fatal(err)
	}

	r.repairAll(t, periodic)
	for _, n := range []int{1, 3} {
		if p, seen := r.tracker.state(statetest.Cid(n)); !seen || p != nil {
			t.Fatalf("unpinned CID %d that IPFS holds was not untracked", n)
		}
	}
	if n := r.tracker.untrackCount(statetest.Cid(2)); n != 0 {
		t.Fatalf("a CID IPFS does not hold was untracked %d times", n)
	}
	if n := r.tracker.untrackCount(statetest.Cid(4)); n != 0 {
		t.Fatal("a CID pinned again after its marker was untracked")
	}
	// The claim records the unpin: an older pin event arriving late
	// loses.
	p1 := localPin(1)
	if out, _ := r.apply.apply(ctx, p1.Cid, now.Add(-time.Second).UnixMicro(), &p1, true); out != older {
		t.Fatalf("an older pin applied after the repair's unpin: %v", out)
	}
}

// When IPFS does not answer, a periodic repair changes nothing on a
// guess; a full repair fails the slice (it is tried again).
func TestRepairChangesNothingWhenIPFSDoesNotAnswer(t *testing.T) {
	r := newUpkeepRig(100)
	now := time.Now()
	r.pin(1, now)
	r.unpin(2, now)
	r.calls.lsErr = errors.New("connection refused")
	r.repairAll(t, periodic)
	if r.tracker.trackCount(statetest.Cid(1)) != 0 || r.tracker.untrackCount(statetest.Cid(2)) != 0 {
		t.Fatal("the repair acted on a CID IPFS did not answer about")
	}
	failed := 0
	for i := range testSlices {
		if _, err := r.u.repairSlice(context.Background(), i, deferring); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("a full repair went on without IPFS's answers")
	}
}

// A paced pass waits for room in the tracker queue before it tracks a
// pin it read from a page; a pin unpinned meanwhile is not tracked,
// whether the feed already applied the unpin (claims) or not (the row is
// read again).
func TestRecoverPassDoesNotTrackAPinUnpinnedMeanwhile(t *testing.T) {
	for _, feedSawIt := range []bool{true, false} {
		name := "unpin not read by the feed yet"
		if feedSawIt {
			name = "unpin applied by the feed"
		}
		t.Run(name, func(t *testing.T) {
			r := newUpkeepRig(10)
			ctx := context.Background()
			now := time.Now()
			p := r.pin(1, now)
			r.tracker.queue = 10 // full: the pass waits
			var once sync.Once
			r.tracker.onQueueSize = func() {
				once.Do(func() {
					// While the pass waits, the pin is unpinned.
					unpinAt := now.Add(time.Second).UnixMicro()
					r.store.writeRow(p.Cid, nil, unpinAt)
					if feedSawIt {
						if _, err := r.apply.apply(ctx, p.Cid, unpinAt, nil, true); err != nil {
							t.Error(err)
						}
					}
					r.tracker.setQueue(0)
				})
			}
			r.repairAll(t, paced)
			if n := r.tracker.trackCount(p.Cid); n != 0 {
				t.Fatalf("a pin unpinned while the pass waited was tracked %d times", n)
			}
		})
	}
}

// A full repair (events lost to the feed) never waits for the tracker:
// pins it cannot queue go to the deferred set, tracked once there is
// room; unpins it finds are applied at once.
func TestFullRepairDefersWithoutWaiting(t *testing.T) {
	r := newUpkeepRig(10)
	ctx := context.Background()
	now := time.Now()
	r.tracker.queue, r.tracker.countQueue = 10, true
	for n := 1; n <= 20; n++ {
		r.pin(n, now.Add(time.Duration(n)*time.Millisecond))
	}
	r.unpin(30, now)
	r.calls.pin(statetest.Cid(30))
	done := make(chan error, 1)
	go func() { done <- r.u.fullPass(ctx, deferring, "test") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the full repair waits for the tracker queue")
	}
	if n := r.apply.deferred.len(); n != 20 {
		t.Fatalf("%d pins deferred, want 20", n)
	}
	if p, seen := r.tracker.state(statetest.Cid(30)); !seen || p != nil {
		t.Fatal("the full repair did not untrack a missed unpin")
	}
	r.tracker.setQueue(0)
	r.apply.queueLimit = 100
	if _, err := r.apply.drainDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 20; n++ {
		if r.tracker.trackCount(statetest.Cid(n)) != 1 {
			t.Fatalf("deferred pin %d tracked %d times, want once", n, r.tracker.trackCount(statetest.Cid(n)))
		}
	}
}

// Running, the upkeep repairs every slice within repair_interval: a pin
// and an unpin the feed missed are both corrected.
func TestRepairCoversThePinsetWithinRepairInterval(t *testing.T) {
	r := newUpkeepRig(100)
	r.u.cfg.repairInterval = 400 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); r.u.run(ctx) }()
	defer func() { cancel(); <-stopped }()

	now := time.Now()
	missed := r.pin(1, now)
	r.unpin(2, now)
	r.calls.pin(statetest.Cid(2))
	// Twice repair_interval, plus slack for a busy test machine.
	deadline := time.Now().Add(2*r.u.cfg.repairInterval + 2*time.Second)
	for {
		p1, _ := r.tracker.state(missed.Cid)
		p2, seen2 := r.tracker.state(statetest.Cid(2))
		if p1 != nil && seen2 && p2 == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after twice repair_interval (and slack): missed pin tracked=%v, missed unpin untracked=%v", p1 != nil, seen2 && p2 == nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An expiry entry whose pin cannot be read (an error other than not
// found) is kept and tried again at the next check, as is one whose
// unpin fails.
func TestExpiryRetriedAfterAnError(t *testing.T) {
	for _, fail := range []string{"get", "unpin"} {
		t.Run(fail, func(t *testing.T) {
			r := newUpkeepRig(100)
			ctx := context.Background()
			// Expired two hours ago: older than one state_sync_interval.
			expired := time.Now().Add(-2 * time.Hour)
			p := localPin(1)
			p.ExpireAt = expired
			r.store.writeRow(p.Cid, &p, time.Now().Add(-3*time.Hour).UnixMicro())
			r.store.expiry = []scyllastate.ExpiryEntry{{Cid: p.Cid, ExpireAt: expired}}
			switch fail {
			case "get":
				r.store.getErrs = 1
			case "unpin":
				r.calls.unpinErr = errors.New("cluster busy")
			}
			r.u.expire(ctx)
			if len(r.calls.unpinned) != 0 || len(r.store.forgotten) != 0 {
				t.Fatalf("after a failed check: %d unpins, %d entries forgotten; want none", len(r.calls.unpinned), len(r.store.forgotten))
			}
			if r.u.lastExpiry.After(expired) {
				t.Fatalf("the next check starts at %s, after the entry to try again (%s)", r.u.lastExpiry, expired)
			}
			r.calls.unpinErr = nil
			r.u.expire(ctx)
			if len(r.calls.unpinned) != 1 || !r.calls.unpinned[0].Equals(p.Cid) {
				t.Fatalf("the expired pin was not unpinned at the next check: %v", r.calls.unpinned)
			}
			if len(r.store.forgotten) != 1 {
				t.Fatalf("%d entries forgotten after the unpin, want 1", len(r.store.forgotten))
			}
		})
	}
}
