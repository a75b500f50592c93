package scylla

import (
	"context"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// The tracker wrapper gives upstream's tracker an RPC client of its own,
// whose local server forwards each call the tracker makes (IPFSConnector
// Pin, Unpin, PinLsCid, PinLs; Cluster IPFSID) to the cluster's. The
// wrapper thus sees each operation end (a failure wakes the sweep, a
// success removes the CID's stored error), and it answers the unpin that
// forgetting an operation makes upstream's tracker send (see
// storedErrors.forget) without asking IPFS.

const trackerProxyProtocol = "/ipfs-cluster-scylla/tracker-proxy"

// newTrackerClient returns the client to give upstream's tracker: its
// calls go to client (the cluster's), and how each pin or unpin ended to
// errs.
func newTrackerClient(client *rpc.Client, errs *storedErrors) (*rpc.Client, error) {
	srv := rpc.NewServer(nil, trackerProxyProtocol)
	if err := srv.RegisterName("IPFSConnector", &IPFSConnectorProxy{client: client, errs: errs}); err != nil {
		return nil, err
	}
	if err := srv.RegisterName("Cluster", &ClusterProxy{client: client}); err != nil {
		return nil, err
	}
	return rpc.NewClientWithServer(nil, trackerProxyProtocol, srv), nil
}

// IPFSConnectorProxy forwards the tracker's calls to the IPFS connector.
// It is exported for the RPC server only.
type IPFSConnectorProxy struct {
	client *rpc.Client // the cluster's
	errs   *storedErrors
}

// Pin forwards a pin and reports how it ended.
func (p *IPFSConnectorProxy) Pin(ctx context.Context, in api.Pin, out *struct{}) error {
	err := p.client.CallContext(ctx, "", "IPFSConnector", "Pin", in, out)
	p.errs.opDone(ctx, in.Cid, false, err)
	return err
}

// Unpin forwards an unpin and reports how it ended, except the unpin of
// an operation being forgotten: that one succeeds without IPFS.
func (p *IPFSConnectorProxy) Unpin(ctx context.Context, in api.Pin, out *struct{}) error {
	if p.errs.forgetting(in.Cid) {
		return nil
	}
	err := p.client.CallContext(ctx, "", "IPFSConnector", "Unpin", in, out)
	p.errs.opDone(ctx, in.Cid, true, err)
	return err
}

// PinLsCid forwards.
func (p *IPFSConnectorProxy) PinLsCid(ctx context.Context, in api.Pin, out *api.IPFSPinStatus) error {
	return p.client.CallContext(ctx, "", "IPFSConnector", "PinLsCid", in, out)
}

// PinLs forwards (the connector closes out).
func (p *IPFSConnectorProxy) PinLs(ctx context.Context, in <-chan []string, out chan<- api.IPFSPinInfo) error {
	return p.client.Stream(ctx, "", "IPFSConnector", "PinLs", in, out)
}

// ClusterProxy forwards the tracker's calls to the cluster.
type ClusterProxy struct{ client *rpc.Client }

// IPFSID forwards.
func (p *ClusterProxy) IPFSID(ctx context.Context, in peer.ID, out *api.IPFSID) error {
	return p.client.CallContext(ctx, "", "Cluster", "IPFSID", in, out)
}
