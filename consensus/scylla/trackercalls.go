package scylla

import (
	"context"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// RecoverErrors runs this peer's PinTracker.RecoverAll (the tracker
// wrapper's: the stored errors, at the pace of pinning) and counts the
// operations it retried.
func (r *rpcCalls) RecoverErrors(ctx context.Context) (int, error) {
	in := make(chan struct{})
	close(in)
	out := make(chan api.PinInfo, 1024)
	errCh := make(chan error, 1)
	go func() {
		errCh <- r.c.rpcClient.Stream(ctx, "", "PinTracker", "RecoverAll", in, out)
	}()
	n := 0
	for range out {
		n++
	}
	return n, <-errCh
}
