package scylla

import (
	"context"
	"sort"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// peersetMetric is the metric whose senders form the peerset, as in
// upstream's crdt consensus.
const peersetMetric = "ping"

// connMgrTag protects trusted peers in the connection manager.
const connMgrTag = "scylla-consensus-trusted"

// Peers returns the peers with a valid ping metric, and always this peer.
// The peerset has no stored membership: a peer is in while it sends
// metrics.
func (c *Consensus) Peers(ctx context.Context) ([]peer.ID, error) {
	// Remote peers may call Consensus.Peers through the cluster's RPC
	// server before the cluster has given this component its client.
	select {
	case <-c.rpcReady:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var metrics []api.Metric
	if err := c.rpcClient.CallContext(ctx, "", "PeerMonitor", "LatestMetrics", peersetMetric, &metrics); err != nil {
		return nil, err
	}
	self := c.host.ID()
	peers := []peer.ID{self}
	for _, m := range metrics {
		if m.Peer != self {
			peers = append(peers, m.Peer)
		}
	}
	sort.Sort(peer.IDSlice(peers))
	return peers, nil
}

// IsTrustedPeer tells whether a peer may send hints and call trusted RPC
// endpoints: every peer when trusted_peers holds "*", else this peer and
// the trusted ones.
func (c *Consensus) IsTrustedPeer(ctx context.Context, pid peer.ID) bool {
	if c.cfg.TrustAll || pid == c.host.ID() {
		return true
	}
	_, ok := c.trusted.Load(pid)
	return ok
}

// Trust marks a peer as trusted, protects its connection and keeps its
// addresses.
func (c *Consensus) Trust(ctx context.Context, pid peer.ID) error {
	c.trusted.Store(pid, struct{}{})
	if cm := c.host.ConnManager(); cm != nil {
		cm.Protect(pid, connMgrTag)
	}
	c.peerMgr.SetPriority(pid, 0)
	ps := c.host.Peerstore()
	ps.SetAddrs(pid, ps.Addrs(pid), peerstore.PermanentAddrTTL)
	return nil
}

// Distrust removes a peer from the trusted set.
func (c *Consensus) Distrust(ctx context.Context, pid peer.ID) error {
	c.trusted.Delete(pid)
	if cm := c.host.ConnManager(); cm != nil {
		cm.Unprotect(pid, connMgrTag)
	}
	return nil
}
