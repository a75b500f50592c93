//go:build integration

package scylla

import (
	"context"
	"testing"
	"time"

	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// The repair on the real store: a peer that never read the feed (its
// changes were all missed) gets the pins it lacks tracked and the CIDs
// unpinned within event_retention that its IPFS still holds untracked,
// from the slices of the pins table (pins and unpin markers).
func TestRepairWithTheStore(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, db)
	ctx := context.Background()
	for n := 1; n <= 7; n++ {
		if err := st.Add(ctx, localPin(n)); err != nil {
			t.Fatal(err)
		}
	}
	for n := 4; n <= 6; n++ { // unpinned: markers
		if err := st.Rm(ctx, statetest.Cid(n)); err != nil {
			t.Fatal(err)
		}
	}
	self := peer.ID("self")
	calls := newFakeCalls(self)
	calls.pin(statetest.Cid(2)) // held: nothing to do
	calls.pin(statetest.Cid(4)) // missed unpins: IPFS still holds them
	calls.pin(statetest.Cid(5))
	tr := newFakeTracker()
	a := newApplier(self, tr, newStoreRows(st), nil, 100)
	u := newUpkeep(self, upkeepSettings{
		slices: 8, repairInterval: time.Minute, recoverInterval: time.Hour, stateSyncInterval: time.Hour,
		queueLimit: 100, retention: db.EventRetention, timeout: 10 * time.Second,
	}, newStoreRows(st), a, calls, nil)
	if err := u.fullPass(ctx, periodic, "test"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3, 7} {
		if p, _ := tr.state(statetest.Cid(n)); p == nil || !p.Equals(localPin(n)) {
			t.Fatalf("missed pin %d not tracked with its value: %v", n, p)
		}
	}
	if tr.trackCount(statetest.Cid(2)) != 0 {
		t.Fatal("a pin IPFS holds was tracked")
	}
	for _, n := range []int{4, 5} {
		if p, seen := tr.state(statetest.Cid(n)); !seen || p != nil {
			t.Fatalf("missed unpin %d not untracked", n)
		}
	}
	if tr.untrackCount(statetest.Cid(6)) != 0 {
		t.Fatal("a CID IPFS does not hold was untracked")
	}

	// The tracker queue is full: a full repair defers the pins it finds
	// missing; one of them is unpinned before there is room, another
	// pinned again with a new value. Each is tracked as its row holds it
	// when there is room.
	tr2 := newFakeTracker()
	tr2.queue = 100
	a2 := newApplier(self, tr2, newStoreRows(st), nil, 100)
	u2 := newUpkeep(self, u.cfg, newStoreRows(st), a2, calls, nil)
	if err := u2.fullPass(ctx, deferring, "test"); err != nil {
		t.Fatal(err)
	}
	if n := a2.deferred.len(); n != 3 {
		t.Fatalf("%d pins deferred, want 3 (1, 3, 7)", n)
	}
	if err := st.Rm(ctx, statetest.Cid(3)); err != nil {
		t.Fatal(err)
	}
	p7 := localPin(7)
	p7.Name = "renamed"
	if err := st.Add(ctx, p7); err != nil {
		t.Fatal(err)
	}
	tr2.setQueue(0)
	if _, err := a2.drainDeferred(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := tr2.state(statetest.Cid(1)); p == nil {
		t.Fatal("deferred pin 1 not tracked")
	}
	if tr2.trackCount(statetest.Cid(3)) != 0 {
		t.Fatal("a deferred pin unpinned before there was room was tracked")
	}
	if p, _ := tr2.state(statetest.Cid(7)); p == nil || p.Name != "renamed" {
		t.Fatalf("deferred pin 7 not tracked with its new value: %v", p)
	}
}
