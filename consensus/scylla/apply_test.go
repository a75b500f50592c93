package scylla

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// nopTracker accepts every call and keeps nothing.
type nopTracker struct{}

func (nopTracker) Track(context.Context, api.Pin) error        { return nil }
func (nopTracker) Untrack(context.Context, api.Cid) error      { return nil }
func (nopTracker) PinQueueSize(context.Context) (int64, error) { return 0, nil }

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// claimMany gives a new applier n claims (unpins of CIDs 0 to n-1,
// written an hour ago, one microsecond apart) and returns it with the
// first timestamp and the heap in use before them.
func claimMany(t *testing.T, n int) (*applier, context.Context, int64, uint64) {
	t.Helper()
	a := newApplier(peer.ID("self"), nopTracker{}, newFakeStore(), nil, 0)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour).UnixMicro()
	before := heapInUse()
	for i := range n {
		if _, err := a.apply(ctx, statetest.Cid(i), old+int64(i), nil, true); err != nil {
			t.Fatal(err)
		}
	}
	return a, ctx, old, before
}

// A peer that read a burst of changes (a new peer reading the feed right
// after a large import holds one claim per pin) gives the memory of their
// claims back once they are forgotten, and not only their entries: a Go
// map keeps the room of its peak.
func TestForgottenClaimsGiveBackTheirMemory(t *testing.T) {
	const n = 200_000
	a, ctx, _, before := claimMany(t, n)
	held := heapInUse()
	if held < before+n*32 {
		t.Fatalf("%d claims hold %d bytes: the test cannot see their memory", n, held-before)
	}
	a.forget(time.Now())
	after := heapInUse()
	// Without a new map about half stays (the map's room); with it, none.
	// A quarter leaves room for what other goroutines allocate meanwhile.
	if after > before+(held-before)/4 {
		t.Fatalf("after forgetting %d claims the heap holds %d of their %d bytes", n, after-before, held-before)
	}
	// The applier still works with its new map.
	p := localPin(1)
	if out, err := a.apply(ctx, p.Cid, time.Now().UnixMicro(), &p, true); err != nil || out != applied {
		t.Fatalf("apply after forget: %v, %v", out, err)
	}
}

// A claim costs the peer little memory, and not its CID: a million
// changes read in a burst (a new peer right after an import of a million
// pins) hold a claim each for 4 × feed_overlap.
func TestClaimsDoNotKeepTheirCids(t *testing.T) {
	const n = 200_000
	a, ctx, old, before := claimMany(t, n)
	per := float64(heapInUse()-before) / n
	// A 16-byte key and a 16-byte claim in a map: about 40 bytes. The
	// CID's string alone (36 bytes here) would be 48 more, its header 16.
	if per > 64 {
		t.Fatalf("a claim holds %.0f bytes of heap, want at most 64", per)
	}
	t.Logf("%.1f bytes of heap per claim", per)
	// Claims still order the changes of each CID.
	if out, err := a.apply(ctx, statetest.Cid(7), old+6, nil, true); err != nil || out != older {
		t.Fatalf("an older change after the claims: %v, %v; want it ignored", out, err)
	}
}
