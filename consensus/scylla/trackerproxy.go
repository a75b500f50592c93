package scylla

import (
	"context"
	"hash/fnv"
	"sync"

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
// tracker.forget) without asking IPFS.

const trackerProxyProtocol = "/ipfs-cluster-scylla/tracker-proxy"

// newTrackerClient returns the client to give upstream's tracker.
func newTrackerClient(t *tracker) (*rpc.Client, error) {
	srv := rpc.NewServer(nil, trackerProxyProtocol)
	if err := srv.RegisterName("IPFSConnector", &IPFSConnectorProxy{t: t}); err != nil {
		return nil, err
	}
	if err := srv.RegisterName("Cluster", &ClusterProxy{t: t}); err != nil {
		return nil, err
	}
	return rpc.NewClientWithServer(nil, trackerProxyProtocol, srv), nil
}

// IPFSConnectorProxy forwards the tracker's calls to the IPFS connector.
// It is exported for the RPC server only.
type IPFSConnectorProxy struct{ t *tracker }

// Pin forwards a pin and reports how it ended.
func (p *IPFSConnectorProxy) Pin(ctx context.Context, in api.Pin, out *struct{}) error {
	err := p.t.client.CallContext(ctx, "", "IPFSConnector", "Pin", in, out)
	p.t.opDone(ctx, in.Cid, false, err)
	return err
}

// Unpin forwards an unpin and reports how it ended, except the unpin of
// an operation being forgotten: that one succeeds without IPFS.
func (p *IPFSConnectorProxy) Unpin(ctx context.Context, in api.Pin, out *struct{}) error {
	if p.t.forgetting(in.Cid) {
		return nil
	}
	err := p.t.client.CallContext(ctx, "", "IPFSConnector", "Unpin", in, out)
	p.t.opDone(ctx, in.Cid, true, err)
	return err
}

// PinLsCid forwards.
func (p *IPFSConnectorProxy) PinLsCid(ctx context.Context, in api.Pin, out *api.IPFSPinStatus) error {
	return p.t.client.CallContext(ctx, "", "IPFSConnector", "PinLsCid", in, out)
}

// PinLs forwards (the connector closes out).
func (p *IPFSConnectorProxy) PinLs(ctx context.Context, in <-chan []string, out chan<- api.IPFSPinInfo) error {
	return p.t.client.Stream(ctx, "", "IPFSConnector", "PinLs", in, out)
}

// ClusterProxy forwards the tracker's calls to the cluster.
type ClusterProxy struct{ t *tracker }

// IPFSID forwards.
func (p *ClusterProxy) IPFSID(ctx context.Context, in peer.ID, out *api.IPFSID) error {
	return p.t.client.CallContext(ctx, "", "Cluster", "IPFSID", in, out)
}

// keyedMutex is one mutex per CID, held only while in use.
type keyedMutex struct {
	mu sync.Mutex
	m  map[api.Cid]*keyedEntry
}

type keyedEntry struct {
	mu    sync.Mutex
	users int
}

// lock locks c and returns its unlock.
func (k *keyedMutex) lock(c api.Cid) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[api.Cid]*keyedEntry{}
	}
	e := k.m[c]
	if e == nil {
		e = &keyedEntry{}
		k.m[c] = e
	}
	e.users++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.users--; e.users == 0 {
			delete(k.m, c)
		}
		k.mu.Unlock()
	}
}

// cidFilter tells which CIDs may have a stored error (a Bloom filter of
// two hashes over 2^24 bits, 2 MiB: about 1.4% false positives at 1M
// CIDs), so that an operation that succeeds deletes a row only when one
// may exist: no delete, and no tombstone, per pin otherwise. Until it is
// loaded from the table (all), every CID may have one.
type cidFilter struct {
	all  bool
	bits []uint64
}

const cidFilterBits = 1 << 24

func newCidFilter(all bool) *cidFilter {
	return &cidFilter{all: all, bits: make([]uint64, cidFilterBits/64)}
}

func cidHashes(c api.Cid) (uint32, uint32) {
	h := fnv.New64a()
	_, _ = h.Write(c.Bytes())
	s := h.Sum64()
	return uint32(s) % cidFilterBits, uint32(s>>32) % cidFilterBits
}

func (f *cidFilter) has(i uint32) bool { return f.bits[i/64]&(1<<(i%64)) != 0 }

// maybe tells whether c may have been added.
func (f *cidFilter) maybe(c api.Cid) bool {
	if f.all {
		return true
	}
	a, b := cidHashes(c)
	return f.has(a) && f.has(b)
}

// add adds c and tells whether it may have been added before (as far
// as the bits tell: an unloaded filter answers for what it was given).
func (f *cidFilter) add(c api.Cid) bool {
	a, b := cidHashes(c)
	had := f.has(a) && f.has(b)
	f.bits[a/64] |= 1 << (a % 64)
	f.bits[b/64] |= 1 << (b % 64)
	return had
}
