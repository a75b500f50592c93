package scylla

import (
	"context"

	"github.com/ipfs-cluster/ipfs-cluster/api"
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

// startRemote starts the workers of remote pins and the loader of IPFS's
// pins; stopped by t.cancel.
func (t *tracker) startRemote() {
	t.wg.Add(remoteWorkers + 1)
	for range remoteWorkers {
		go func() { defer t.wg.Done(); t.remoteLoop() }()
	}
	go func() { defer t.wg.Done(); t.held.loadLoop(t.ctx, t.client) }()
	t.remoteOn.Store(true)
}

// queueRemote queues the Track of remote pin p and tells whether it did
// (false: the workers do not run or the queue is full). A CID already
// queued keeps its place, with p as its call.
func (t *tracker) queueRemote(p api.Pin) bool {
	if !t.remoteOn.Load() {
		return false
	}
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	if _, queued := t.pending[p.Cid]; !queued {
		if len(t.remoteFIFO)-t.remoteHead >= remoteBacklog {
			return false
		}
		t.remoteFIFO = append(t.remoteFIFO, p.Cid)
	}
	t.remoteSeq++
	t.pending[p.Cid] = remoteCall{pin: p, seq: t.remoteSeq}
	select {
	case t.remoteReady <- struct{}{}:
	default:
	}
	return true
}

// supersede drops the queued remote call of c, if any: a later change of
// c is being made. The caller holds the lock of c.
func (t *tracker) supersede(c api.Cid) {
	t.pendingMu.Lock()
	delete(t.pending, c)
	t.pendingMu.Unlock()
}

// nextRemote takes the next queued CID, if any. A CID whose call was
// superseded is still handed out: takeRemote finds no call for it.
func (t *tracker) nextRemote() (api.Cid, bool) {
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	if t.remoteHead == len(t.remoteFIFO) {
		t.remoteFIFO, t.remoteHead = t.remoteFIFO[:0], 0
		return api.Cid{}, false
	}
	c := t.remoteFIFO[t.remoteHead]
	t.remoteFIFO[t.remoteHead] = api.Cid{}
	t.remoteHead++
	if t.remoteHead >= 1024 && 2*t.remoteHead >= len(t.remoteFIFO) {
		// Reuse the consumed front of the slice.
		n := copy(t.remoteFIFO, t.remoteFIFO[t.remoteHead:])
		t.remoteFIFO, t.remoteHead = t.remoteFIFO[:n], 0
	}
	if t.remoteHead < len(t.remoteFIFO) {
		// More to do: wake another worker.
		select {
		case t.remoteReady <- struct{}{}:
		default:
		}
	}
	return c, true
}

// takeRemote takes the queued call of c off the pending ones, unless a
// later change of c superseded it. The caller holds the lock of c.
func (t *tracker) takeRemote(c api.Cid) (remoteCall, bool) {
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	call, ok := t.pending[c]
	if ok {
		delete(t.pending, c)
	}
	return call, ok
}

// remoteLoop makes the queued remote calls until the tracker stops.
func (t *tracker) remoteLoop() {
	for {
		c, ok := t.nextRemote()
		if !ok {
			select {
			case <-t.ctx.Done():
				return
			case <-t.remoteReady:
			}
			continue
		}
		t.runRemote(t.ctx, c)
	}
}

// runRemote makes the queued remote call of c unless a later change of c
// superseded it.
func (t *tracker) runRemote(ctx context.Context, c api.Cid) {
	defer t.locks.lock(c)()
	call, ok := t.takeRemote(c)
	if !ok {
		return
	}
	if err := t.trackRemote(ctx, call.pin); err != nil {
		logger.Warnf("tracking remote pin %s: %s", c, err)
	}
}

// trackRemotePin is Track for a pin allocated to other peers: nothing
// when IPFS cannot hold its CID, else queued for the workers, else (the
// queue full) made now.
func (t *tracker) trackRemotePin(ctx context.Context, p api.Pin) error {
	unlock := t.locks.lock(p.Cid)
	if !t.held.mayHold(p.Cid) {
		t.supersede(p.Cid)
		unlock()
		return nil
	}
	unlock()
	if t.queueRemote(p) {
		return nil
	}
	defer t.locks.lock(p.Cid)()
	t.supersede(p.Cid)
	return t.trackRemote(ctx, p)
}

// trackRemote tracks remote pin p: upstream's Track, which unpins it from
// IPFS, unless IPFS cannot hold it (any more: the listing may have come
// since it was queued). The caller holds the lock of p's CID. Upstream's
// tracker keeps an error of the call in its operation.
func (t *tracker) trackRemote(ctx context.Context, p api.Pin) error {
	if !t.held.mayHold(p.Cid) {
		return nil
	}
	return t.PinTracker.Track(ctx, p)
}
