package scylla

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The expiry check of upkeep: every state_sync_interval, the peer
// closest to each expired pin unpins it.
//
// Each check reads the index entries due since the previous check, less
// an overlap: one state_sync_interval, and at least feed_overlap, within
// which an entry is visible after the time it is due (scyllastate files
// the entry of a pin written after its expiry, an import of a pin already
// expired for one, under the time of its write, so that the next check of
// every running peer reads it). A peer that starts reads event_retention
// back.

// expire unpins the expired pins this peer is closest to. An entry whose
// pin cannot be read or unpinned is kept and the next check starts from
// it, so that it is tried again.
func (u *upkeep) expire(ctx context.Context) {
	now := time.Now()
	pctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
	trusted, err := u.calls.TrustedPeers(pctx)
	cancel()
	if err != nil {
		logger.Warnf("expiry check: listing peers: %s", err)
		return
	}
	n := 0
	var retry time.Time // the earliest entry to try again
	failed := func(e scyllastate.ExpiryEntry) {
		if retry.IsZero() || e.ExpireAt.Before(retry) {
			retry = e.ExpireAt
		}
	}
	err = u.store.Expired(ctx, u.lastExpiry, now, func(e scyllastate.ExpiryEntry) error {
		if !closest(u.self, trusted, e.Cid) {
			return nil
		}
		gctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
		pin, err := u.store.Get(gctx, e.Cid)
		cancel()
		switch {
		case err != nil && !errors.Is(err, state.ErrNotFound):
			logger.Warnf("expiry check: reading %s: %s (tried again at the next check)", e.Cid, err)
			failed(e)
			return nil
		case err == nil && !pin.ExpireAt.IsZero() && !pin.ExpireAt.After(now):
			logger.Infof("unpinning %s: pin expired at %s", e.Cid, pin.ExpireAt)
			uctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
			err := u.calls.Unpin(uctx, pin)
			cancel()
			if err != nil {
				logger.Errorf("unpinning expired %s: %s (tried again at the next check)", e.Cid, err)
				failed(e)
				return nil
			}
			n++
		case err == nil && pin.ExpireAt.After(now):
			return nil // pinned again with a later expiry: its own entry is due later
		}
		// Unpinned, expired and handled, or pinned again without expiry.
		fctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
		defer cancel()
		return u.store.ForgetExpiry(fctx, e)
	})
	if err != nil {
		logger.Warnf("expiry check: %s", err)
		return
	}
	// Entries of the last interval stay due until handled, and an entry
	// is visible up to feed_overlap after it is due: keep that overlap,
	// and never pass an entry to try again.
	next := now.Add(-max(u.cfg.stateSyncInterval, u.cfg.overlap))
	if !retry.IsZero() && retry.Before(next) {
		next = maxTime(retry, now.Add(-u.cfg.retention))
	}
	if next.After(u.lastExpiry) {
		u.lastExpiry = next
	}
	if n > 0 {
		logger.Infof("expiry check: %d expired pins unpinned", n)
	}
}

// closest tells whether self is, among the trusted peers, the closest to
// a CID (XOR of SHA-256 hashes), so that one peer acts on it.
func closest(self peer.ID, trusted []peer.ID, c api.Cid) bool {
	target := sha256.Sum256(c.Bytes())
	dist := func(p peer.ID) [32]byte {
		h := sha256.Sum256([]byte(p))
		for i := range h {
			h[i] ^= target[i]
		}
		return h
	}
	mine := dist(self)
	for _, p := range trusted {
		if p == self {
			continue
		}
		d := dist(p)
		if bytes.Compare(d[:], mine[:]) < 0 {
			return false
		}
	}
	return true
}
