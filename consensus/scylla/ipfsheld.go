package scylla

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"
)

// Which CIDs IPFS may hold. Upstream's tracking of a remote pin (one
// allocated to other peers) asks IPFS whether it holds the CID and unpins
// it if so: an IPFS call per remote pin on every peer. With many peers
// most pins are remote to each, so these calls are most of what a new pin
// costs the cluster, and a burst of remote pins (a new peer reading the
// recent changes, an import) keeps IPFS busy for minutes.
//
// A remote pin needs them only if IPFS may hold its CID: if a listing of
// IPFS's pins taken since this peer started holds it, or if this peer's
// tracker has been asked to pin it since (it may be pinning it now). Any
// other pin of IPFS would be one this peer's tracker never made. The
// wrapper keeps both sets as Bloom filters (cidFilter): a false positive
// costs the IPFS calls, never a missed unpin. The listing is taken at the
// first remote pin and again when an hour old; until it is there, and
// after a failed one, every remote pin gets its calls.
const (
	heldRefresh     = time.Hour
	heldRetry       = time.Minute
	heldListTimeout = 10 * time.Minute
)

// ipfsHeld tells which CIDs IPFS may hold.
type ipfsHeld struct {
	mu       sync.Mutex
	listed   *cidFilter // IPFS's pins at listedAt; nil until listed
	listedAt time.Time
	local    *cidFilter // CIDs this peer's tracker was asked to pin
	want     chan struct{}
}

func newIPFSHeld() *ipfsHeld {
	return &ipfsHeld{local: newCidFilter(false), want: make(chan struct{}, 1)}
}

// markLocal records that the tracker is asked to pin c; made under the
// CID's lock before the tracker is asked, so that a remote pin of c
// checked later sees it.
func (h *ipfsHeld) markLocal(c api.Cid) {
	h.mu.Lock()
	h.local.add(c)
	h.mu.Unlock()
}

// mayHold tells whether IPFS may hold c, and asks for a listing when there
// is none or it is old.
func (h *ipfsHeld) mayHold(c api.Cid) bool {
	h.mu.Lock()
	listed, at := h.listed, h.listedAt
	local := h.local.maybe(c)
	h.mu.Unlock()
	if listed == nil || time.Since(at) > heldRefresh {
		select {
		case h.want <- struct{}{}:
		default:
		}
	}
	return listed == nil || local || listed.maybe(c)
}

// loadLoop lists IPFS's pins when asked, until ctx ends.
func (h *ipfsHeld) loadLoop(ctx context.Context, client *rpc.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.want:
		}
		start := time.Now()
		f, n, err := listIPFSPins(ctx, client)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Warnf("listing the pins of IPFS failed (remote pins are checked one by one meanwhile), retrying in %s: %s", heldRetry, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(heldRetry):
			}
			continue
		}
		h.mu.Lock()
		h.listed, h.listedAt = f, start
		h.mu.Unlock()
		select { // an ask made during the listing is answered
		case <-h.want:
		default:
		}
		logger.Infof("listed %d pins of IPFS in %s: remote pins it lacks are tracked without IPFS calls", n, time.Since(start).Round(time.Millisecond))
	}
}

// listIPFSPins lists the recursive and direct pins of IPFS into a filter
// (the daemon's connector lists every type asked for: service.pinLsEachType).
// A listing that does not end well is not used.
func listIPFSPins(ctx context.Context, client *rpc.Client) (*cidFilter, int, error) {
	ctx, cancel := context.WithTimeout(ctx, heldListTimeout)
	defer cancel()
	in := make(chan []string, 1)
	in <- []string{"recursive", "direct"}
	close(in)
	out := make(chan api.IPFSPinInfo, 1024)
	errCh := make(chan error, 1)
	go func() { errCh <- client.Stream(ctx, "", "IPFSConnector", "PinLs", in, out) }()
	f := newCidFilter(false)
	n := 0
	for pi := range out {
		f.add(pi.Cid)
		n++
	}
	if err := <-errCh; err != nil {
		return nil, 0, err
	}
	return f, n, nil
}
