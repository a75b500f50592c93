package scylla

import (
	"context"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// trackerCallTimeout bounds a Track or Untrack call: upstream's tracker
// queues the operation and returns, except for a pin allocated elsewhere,
// which it unpins from IPFS before returning.
const trackerCallTimeout = 10 * time.Minute

// rpcTracker calls this peer's PinTracker through the cluster's RPC. The
// applier bounds its PinQueueSize calls with a timeout.
type rpcTracker struct{ client *rpc.Client }

func (t *rpcTracker) Track(ctx context.Context, pin api.Pin) error {
	ctx, cancel := context.WithTimeout(ctx, trackerCallTimeout)
	defer cancel()
	return t.client.CallContext(ctx, "", "PinTracker", "Track", pin, &struct{}{})
}

func (t *rpcTracker) Untrack(ctx context.Context, c api.Cid) error {
	ctx, cancel := context.WithTimeout(ctx, trackerCallTimeout)
	defer cancel()
	return t.client.CallContext(ctx, "", "PinTracker", "Untrack", api.PinCid(c), &struct{}{})
}

func (t *rpcTracker) PinQueueSize(ctx context.Context) (int64, error) {
	var n int64
	err := t.client.CallContext(ctx, "", "PinTracker", "PinQueueSize", struct{}{}, &n)
	return n, err
}

// rpcCalls makes the calls of the periodic work (upkeep) to the other
// components of this peer through the cluster's RPC. The callers bound
// each call with a timeout.
type rpcCalls struct{ c *Consensus }

func (r *rpcCalls) TrustedPeers(ctx context.Context) ([]peer.ID, error) {
	peers, err := r.c.Peers(ctx)
	if err != nil {
		return nil, err
	}
	trusted := peers[:0]
	for _, p := range peers {
		if r.c.IsTrustedPeer(ctx, p) {
			trusted = append(trusted, p)
		}
	}
	return trusted, nil
}

func (r *rpcCalls) PinLsCid(ctx context.Context, pin api.Pin) (api.IPFSPinStatus, error) {
	var st api.IPFSPinStatus
	err := r.c.rpcClient.CallContext(ctx, "", "IPFSConnector", "PinLsCid", pin, &st)
	return st, err
}

func (r *rpcCalls) Unpin(ctx context.Context, pin api.Pin) error {
	return r.c.rpcClient.CallContext(ctx, "", "Cluster", "Unpin", pin, &api.Pin{})
}

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
