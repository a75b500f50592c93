//go:build integration

package scylla

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// expiryPeer is a running peer's expiry check on the real store: it has
// run its first check already.
func expiryPeer(t *testing.T, st *scyllastate.ScyllaState, cfg *scyllastate.Config, interval, overlap time.Duration) (*upkeep, *fakeCalls) {
	t.Helper()
	self := peer.ID("self")
	calls := newFakeCalls(self)
	a := newApplier(self, newFakeTracker(), newStoreRows(st), nil, 100)
	u := newUpkeep(self, upkeepSettings{
		slices: 8, repairInterval: time.Hour, recoverInterval: time.Hour, stateSyncInterval: interval,
		queueLimit: 100, overlap: overlap, retention: cfg.EventRetention, timeout: 10 * time.Second,
	}, newStoreRows(st), a, calls, nil)
	u.expire(context.Background())
	if len(calls.unpinned) != 0 {
		t.Fatalf("the first check unpinned %v: nothing has expired yet", calls.unpinned)
	}
	return u, calls
}

// expiringPin is pin n allocated everywhere, expiring at exp.
func expiringPin(n int, exp time.Time) api.Pin {
	p := localPin(n)
	p.ExpireAt = exp
	return p
}

// unpinnedSet returns the CIDs a peer unpinned, as a set.
func unpinnedSet(calls *fakeCalls) map[string]int {
	calls.mu.Lock()
	defer calls.mu.Unlock()
	out := map[string]int{}
	for _, c := range calls.unpinned {
		out[c.KeyString()]++
	}
	return out
}

// Pins written after their expiry (`state import` or `state migrate` of
// pins already expired, by another process) are unpinned by the next
// expiry check of a running peer, once each, as upstream's state sync
// does; a pin whose expiry is still ahead is left alone.
func TestRunningPeerUnpinsPinsImportedAlreadyExpired(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, cfg)
	ctx := context.Background()
	u, calls := expiryPeer(t, st, cfg, time.Minute, 10*time.Second)

	importer := cqltest.New(t, cfg, scyllastate.WithWriterID("importer"))
	now := time.Now()
	imported := expiringPin(1, now.Add(-55*time.Minute)) // this hour, maybe
	older := expiringPin(2, now.Add(-26*time.Hour))      // a day ago
	added := expiringPin(3, now.Add(-3*time.Hour))       // one write, not a batch
	ahead := expiringPin(4, now.Add(2*time.Hour))        // not expired
	b := importer.Batch()
	for _, p := range []api.Pin{imported, older, ahead} {
		if err := b.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := importer.Add(ctx, added); err != nil {
		t.Fatal(err)
	}

	u.expire(ctx)
	got := unpinnedSet(calls)
	for _, p := range []api.Pin{imported, older, added} {
		if got[p.Cid.KeyString()] != 1 {
			t.Errorf("pin expired at %s, written after: unpinned %d times at the next check, want 1", p.ExpireAt.Format(time.RFC3339), got[p.Cid.KeyString()])
		}
	}
	if got[ahead.Cid.KeyString()] != 0 {
		t.Errorf("a pin expiring in two hours was unpinned")
	}
	u.expire(ctx)
	if n := len(unpinnedSet(calls)); n != 3 || len(calls.unpinned) != 3 {
		t.Errorf("after another check: %d unpins, want the 3 of the first check only", len(calls.unpinned))
	}
}

// A pin written, already expired, by a writer whose clock lags the
// peers' (within feed_overlap, which the clocks must agree within) is
// unpinned by the next check of a running peer whose state_sync_interval
// is shorter than that lag.
func TestRunningPeerUnpinsExpiredPinOfALaggingWriter(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, cfg)
	ctx := context.Background()
	u, calls := expiryPeer(t, st, cfg, time.Second, time.Minute)

	restore := seams.SetClock(func(string) func() time.Time { return seams.Offset(-30 * time.Second) })
	lagging := cqltest.New(t, cfg, scyllastate.WithWriterID("lagging"))
	restore()
	p := expiringPin(1, time.Now().Add(-2*time.Hour))
	if err := lagging.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	u.expire(ctx)
	if got := unpinnedSet(calls); got[p.Cid.KeyString()] != 1 {
		t.Fatalf("an expired pin written by a writer 30s behind: unpinned %d times at the next check, want 1", got[p.Cid.KeyString()])
	}
}
