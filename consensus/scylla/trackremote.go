package scylla

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"
)

// Remote pins. Upstream's tracker answers the tracking of a pin allocated
// to other peers by unpinning it from IPFS at once, in the caller's
// goroutine: a pin/ls and a pin/rm call to IPFS for every remote pin. The
// callers are the change feed's readers (a few per peer) and the repairs:
// with a slow IPFS, every reader waits on it and the peer stops applying
// changes, its own pins included. The wrapper runs those calls in its own
// workers instead, from a queue that keeps one call per CID (the latest).
// Their order against the other changes of the CID is kept: a later Track
// or Untrack of the CID supersedes a queued remote call, which is then
// skipped; a remote call runs under the CID's lock like every change. When
// the queue is full, the caller makes the call itself, as upstream does.
// Most remote pins need no IPFS call at all (see ipfsheld.go).
const (
	remoteWorkers = 4
	// remoteBacklog bounds the CIDs waiting for a worker: a full queue
	// holds about remoteBacklog pins in memory (a few hundred bytes each).
	remoteBacklog = 1 << 16
)

// remoteCall is a queued Track of a remote pin; seq tells it from a later
// one of the same CID.
type remoteCall struct {
	pin api.Pin
	seq uint64
}

// remotePins makes the Track calls of remote pins for the tracker
// wrapper: a queue of CIDs, each with its latest call in pending, and the
// workers that take them. It shares the wrapper's locks of CIDs and its
// view of what IPFS may hold.
type remotePins struct {
	locks *keyedMutex // the wrapper's: one change per CID at a time
	held  *ipfsHeld   // which CIDs IPFS may hold (ipfsheld.go)
	// track is upstream's Track.
	track func(ctx context.Context, pin api.Pin) error

	on        atomic.Bool // the workers run
	ready     chan struct{}
	pendingMu sync.Mutex
	pending   map[api.Cid]remoteCall
	fifo      []api.Cid // under pendingMu, from head
	head      int
	seq       uint64
}

// newRemotePins returns the queue of remote calls of a wrapper whose
// locks, view of IPFS and upstream Track are given; its workers start
// with startRemote.
func newRemotePins(locks *keyedMutex, held *ipfsHeld, track func(context.Context, api.Pin) error) *remotePins {
	return &remotePins{
		locks:   locks,
		held:    held,
		track:   track,
		ready:   make(chan struct{}, 1),
		pending: map[api.Cid]remoteCall{},
	}
}

// startRemote starts the workers of remote pins and the loader of IPFS's
// pins (listed through client), in wg, until ctx (the wrapper's) ends.
func (r *remotePins) startRemote(ctx context.Context, wg *sync.WaitGroup, client *rpc.Client) {
	wg.Add(remoteWorkers + 1)
	for range remoteWorkers {
		go func() { defer wg.Done(); r.remoteLoop(ctx) }()
	}
	go func() { defer wg.Done(); r.held.loadLoop(ctx, client) }()
	r.on.Store(true)
}

// queueRemote queues the Track of remote pin p and tells whether it did
// (false: the workers do not run or the queue is full). A CID already
// queued keeps its place, with p as its call.
func (r *remotePins) queueRemote(p api.Pin) bool {
	if !r.on.Load() {
		return false
	}
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	if _, queued := r.pending[p.Cid]; !queued {
		if len(r.fifo)-r.head >= remoteBacklog {
			return false
		}
		r.fifo = append(r.fifo, p.Cid)
	}
	r.seq++
	r.pending[p.Cid] = remoteCall{pin: p, seq: r.seq}
	select {
	case r.ready <- struct{}{}:
	default:
	}
	return true
}

// supersede drops the queued remote call of c, if any: a later change of
// c is being made. The caller holds the lock of c.
func (r *remotePins) supersede(c api.Cid) {
	r.pendingMu.Lock()
	delete(r.pending, c)
	r.pendingMu.Unlock()
}

// nextRemote takes the next queued CID, if any. A CID whose call was
// superseded is still handed out: takeRemote finds no call for it.
func (r *remotePins) nextRemote() (api.Cid, bool) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	if r.head == len(r.fifo) {
		r.fifo, r.head = r.fifo[:0], 0
		return api.Cid{}, false
	}
	c := r.fifo[r.head]
	r.fifo[r.head] = api.Cid{}
	r.head++
	if r.head >= 1024 && 2*r.head >= len(r.fifo) {
		// Reuse the consumed front of the slice.
		n := copy(r.fifo, r.fifo[r.head:])
		r.fifo, r.head = r.fifo[:n], 0
	}
	if r.head < len(r.fifo) {
		// More to do: wake another worker.
		select {
		case r.ready <- struct{}{}:
		default:
		}
	}
	return c, true
}

// takeRemote takes the queued call of c off the pending ones, unless a
// later change of c superseded it. The caller holds the lock of c.
func (r *remotePins) takeRemote(c api.Cid) (remoteCall, bool) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	call, ok := r.pending[c]
	if ok {
		delete(r.pending, c)
	}
	return call, ok
}

// remoteLoop makes the queued remote calls until ctx (the tracker's)
// ends.
func (r *remotePins) remoteLoop(ctx context.Context) {
	for {
		c, ok := r.nextRemote()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-r.ready:
			}
			continue
		}
		r.runRemote(ctx, c)
	}
}

// runRemote makes the queued remote call of c unless a later change of c
// superseded it.
func (r *remotePins) runRemote(ctx context.Context, c api.Cid) {
	defer r.locks.lock(c)()
	call, ok := r.takeRemote(c)
	if !ok {
		return
	}
	if err := r.trackRemote(ctx, call.pin); err != nil {
		logger.Warnf("tracking remote pin %s: %s", c, err)
	}
}

// trackRemotePin is Track for a pin allocated to other peers: nothing
// when IPFS cannot hold its CID, else queued for the workers, else (the
// queue full) made now.
func (r *remotePins) trackRemotePin(ctx context.Context, p api.Pin) error {
	unlock := r.locks.lock(p.Cid)
	if !r.held.mayHold(p.Cid) {
		r.supersede(p.Cid)
		unlock()
		return nil
	}
	unlock()
	if r.queueRemote(p) {
		return nil
	}
	defer r.locks.lock(p.Cid)()
	r.supersede(p.Cid)
	return r.trackRemote(ctx, p)
}

// trackRemote tracks remote pin p: upstream's Track, which unpins it from
// IPFS, unless IPFS cannot hold it (any more: the listing may have come
// since it was queued). The caller holds the lock of p's CID. Upstream's
// tracker keeps an error of the call in its operation.
func (r *remotePins) trackRemote(ctx context.Context, p api.Pin) error {
	if !r.held.mayHold(p.Cid) {
		return nil
	}
	return r.track(ctx, p)
}
