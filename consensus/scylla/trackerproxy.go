package scylla

import (
	"context"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/rpcproxy"
)

// The tracker wrapper gives upstream's tracker an RPC client of its own
// (internal/rpcproxy), whose calls go to the cluster's but for
// IPFSConnector Pin and Unpin: the wrapper thus sees each operation end
// (a failure wakes the sweep, a success removes the CID's stored error),
// and it answers the unpin that forgetting an operation makes upstream's
// tracker send (see storedErrors.forget) without asking IPFS.

// newTrackerClient returns the client to give upstream's tracker: its
// calls go to client (the cluster's), and how each pin or unpin ended to
// errs.
func newTrackerClient(client *rpc.Client, errs *storedErrors) (*rpc.Client, error) {
	ipfs := &IPFSConnectorProxy{IPFSConnector: rpcproxy.NewIPFSConnector(client), errs: errs}
	return rpcproxy.NewClient(nil, client, map[string]any{"IPFSConnector": ipfs})
}

// IPFSConnectorProxy forwards the tracker's calls to the IPFS connector,
// watching pins and unpins. It is exported for the RPC server only.
type IPFSConnectorProxy struct {
	*rpcproxy.IPFSConnector // forwards to the cluster's client
	errs                    *storedErrors
}

// Pin forwards a pin and reports how it ended.
func (p *IPFSConnectorProxy) Pin(ctx context.Context, in api.Pin, out *struct{}) error {
	err := p.IPFSConnector.Pin(ctx, in, out)
	p.errs.opDone(ctx, in.Cid, false, err)
	return err
}

// Unpin forwards an unpin and reports how it ended, except the unpin of
// an operation being forgotten: that one succeeds without IPFS.
func (p *IPFSConnectorProxy) Unpin(ctx context.Context, in api.Pin, out *struct{}) error {
	if p.errs.forgetting(in.Cid) {
		return nil
	}
	err := p.IPFSConnector.Unpin(ctx, in, out)
	p.errs.opDone(ctx, in.Cid, true, err)
	return err
}
