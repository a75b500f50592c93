package scylla

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// listed waits until the wrapper holds a listing of IPFS's pins (asked
// for by the first remote pin).
func (r *trackerRig) listed() {
	r.t.Helper()
	r.w.held.mayHold(statetest.Cid(0))
	eventually(r.t, "IPFS's pins listed", func() bool {
		r.w.held.mu.Lock()
		defer r.w.held.mu.Unlock()
		return r.w.held.listed != nil
	})
}

// settleRemote waits until no remote call is queued, and a little for
// the calls taken.
func (r *trackerRig) settleRemote() {
	r.t.Helper()
	eventually(r.t, "no remote call queued", func() bool {
		r.w.remote.pendingMu.Lock()
		defer r.w.remote.pendingMu.Unlock()
		return len(r.w.remote.pending) == 0
	})
	time.Sleep(50 * time.Millisecond) // a call taken just now ends
}

// A remote pin whose CID IPFS lacks costs IPFS no call once its pins are
// listed; one it holds is unpinned.
func TestRemotePinIPFSLacksMakesNoIPFSCall(t *testing.T) {
	r := newTrackerRig(t, nil)
	held := r.heldRemotePin(1)
	r.listed()
	for n := 2; n <= 50; n++ {
		if err := r.w.Track(context.Background(), r.remotePin(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.w.Track(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the held remote pin unpinned", func() bool { return r.ipfs.unpinCount(held.Cid) == 1 })
	r.settleRemote()
	for n := 2; n <= 50; n++ {
		if c := r.ipfs.unpinCount(statetest.Cid(n)); c != 0 {
			t.Fatalf("remote pin %d, which IPFS lacks, made %d IPFS unpin call(s)", n, c)
		}
	}
}

// A remote pin that IPFS holds in direct mode (pinned here in that mode
// before it went to another peer) is unpinned: the listing asks IPFS for
// its direct pins too.
func TestRemoteDirectPinIPFSHoldsIsUnpinned(t *testing.T) {
	r := newTrackerRig(t, nil)
	p := r.remotePin(3)
	p.MaxDepth = 0 // direct
	r.ipfs.mu.Lock()
	r.ipfs.direct = map[api.Cid]bool{p.Cid: true}
	r.ipfs.mu.Unlock()
	r.listed()
	if err := r.w.Track(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the direct pin IPFS holds unpinned", func() bool { return r.ipfs.unpinCount(p.Cid) == 1 })
}

// A CID pinned here after the listing and then allocated elsewhere is
// unpinned: the listing does not have it, the wrapper remembers pinning it.
func TestRemotePinOfCidPinnedSinceListingIsUnpinned(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.listed()
	p := r.pin(7)
	eventually(t, "pinned here", func() bool {
		r.ipfs.mu.Lock()
		defer r.ipfs.mu.Unlock()
		return r.ipfs.pinned[p.Cid]
	})
	if err := r.w.Track(context.Background(), r.remotePin(7)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unpinned once allocated elsewhere", func() bool {
		r.ipfs.mu.Lock()
		defer r.ipfs.mu.Unlock()
		return !r.ipfs.pinned[p.Cid]
	})
}

// Without a listing (IPFS does not answer pin/ls), every remote pin gets
// upstream's IPFS calls.
func TestRemotePinWithoutListingAsksIPFS(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.ipfs.mu.Lock()
	r.ipfs.noList = true
	r.ipfs.mu.Unlock()
	for n := 1; n <= 5; n++ {
		if err := r.w.Track(context.Background(), r.remotePin(n)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every remote pin asked IPFS", func() bool {
		for n := 1; n <= 5; n++ {
			if r.ipfs.unpinCount(statetest.Cid(n)) != 1 {
				return false
			}
		}
		return true
	})
}

// A burst of remote pins larger than the old fixed queue (4096) waits
// for no IPFS call, even without a listing (every one needs its IPFS
// calls): the feed's readers go on.
func TestRemotePinBurstDoesNotWaitForIPFS(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.ipfs.mu.Lock()
	r.ipfs.noList = true
	r.ipfs.mu.Unlock()
	gate := make(chan struct{})
	r.ipfs.gate = gate
	defer close(gate)
	done := make(chan error, 1)
	pins := r.heldRemotePins(10000)
	go func() {
		for _, p := range pins {
			if err := r.w.Track(context.Background(), p); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the Track calls of 10000 remote pins waited for IPFS")
	}
}
