package scylla

import (
	"context"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// storeRows is the store as the applier and the upkeep see it: the
// pinset's reads (ReadVersion, ScanSlice, Get) and, from its change feed,
// the completion of a change from its event and the expiry index.
type storeRows struct {
	*scyllastate.ScyllaState
	feed *scyllastate.Feed
}

func newStoreRows(s *scyllastate.ScyllaState) storeRows {
	return storeRows{ScyllaState: s, feed: s.Feed()}
}

// RollForward completes the change of an event (see scyllastate.Feed).
func (s storeRows) RollForward(ctx context.Context, e scyllastate.Event) error {
	return s.feed.RollForward(ctx, e)
}

// Expired reads the expiry index (see scyllastate.Feed).
func (s storeRows) Expired(ctx context.Context, from, to time.Time, fn func(scyllastate.ExpiryEntry) error) error {
	return s.feed.Expired(ctx, from, to, fn)
}

// ForgetExpiry removes an entry of the expiry index (see scyllastate.Feed).
func (s storeRows) ForgetExpiry(ctx context.Context, e scyllastate.ExpiryEntry) error {
	return s.feed.ForgetExpiry(ctx, e)
}
