package scylla

import (
	"context"
	"sync/atomic"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// tracker wraps upstream's pin tracker for a peer of this consensus.
// Upstream's cluster runs RecoverAll at start over the whole pinset: it
// lists every pin and the whole IPFS pinset, and queues every missing
// pin at once, which at millions of pins holds them all in memory. With
// this consensus the start is covered by the catch-up (changes made while
// the peer was away) and, on a first start, by a full recover pass that
// queues pins at the pace of pinning (see upkeep). So the wrapper answers
// that first RecoverAll with nothing; later calls (ipfs-cluster-ctl
// recover) are upstream's.
type tracker struct {
	ipfscluster.PinTracker
	startDone atomic.Bool
}

// WrapTracker returns the pin tracker to give the cluster with this
// consensus. The daemon also disables the cluster's periodic recover
// and state sync, which this consensus replaces (see its Config).
func WrapTracker(t ipfscluster.PinTracker) ipfscluster.PinTracker {
	return &tracker{PinTracker: t}
}

// RecoverAll skips the cluster's recover at start; see tracker.
func (t *tracker) RecoverAll(ctx context.Context, out chan<- api.PinInfo) error {
	if t.startDone.CompareAndSwap(false, true) {
		close(out)
		return nil
	}
	return t.PinTracker.RecoverAll(ctx, out)
}
