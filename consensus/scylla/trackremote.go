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
// workers instead. Their order against the other changes of the CID is
// kept: a later Track or Untrack of the CID supersedes a queued remote
// call, which is then skipped; a remote call runs under the CID's lock
// like every change. When the queue is full, the caller makes the call
// itself, as upstream does.
const (
	remoteWorkers = 4
	remoteQueue   = 4096
)

// remoteCall is a queued Track of a remote pin; seq tells it from a later
// one of the same CID.
type remoteCall struct {
	pin api.Pin
	seq uint64
}

// startRemote starts the workers of remote pins; stopped by t.cancel.
func (t *tracker) startRemote() {
	t.wg.Add(remoteWorkers)
	for range remoteWorkers {
		go func() { defer t.wg.Done(); t.remoteLoop() }()
	}
	t.remoteOn.Store(true)
}

// queueRemote queues the Track of remote pin p and tells whether it did
// (false: the workers do not run or the queue is full).
func (t *tracker) queueRemote(p api.Pin) bool {
	if !t.remoteOn.Load() {
		return false
	}
	t.pendingMu.Lock()
	t.remoteSeq++
	call := remoteCall{pin: p, seq: t.remoteSeq}
	t.pending[p.Cid] = call.seq
	t.pendingMu.Unlock()
	select {
	case t.remote <- call:
		return true
	default:
		t.pendingMu.Lock()
		if t.pending[p.Cid] == call.seq {
			delete(t.pending, p.Cid)
		}
		t.pendingMu.Unlock()
		return false
	}
}

// supersede drops the queued remote call of c, if any: a later change of
// c is being made. The caller holds the lock of c.
func (t *tracker) supersede(c api.Cid) {
	t.pendingMu.Lock()
	delete(t.pending, c)
	t.pendingMu.Unlock()
}

// current tells whether call is still the latest change of its CID, and
// takes it off the pending ones. The caller holds the lock of the CID.
func (t *tracker) current(call remoteCall) bool {
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	if seq, ok := t.pending[call.pin.Cid]; !ok || seq != call.seq {
		return false
	}
	delete(t.pending, call.pin.Cid)
	return true
}

// remoteLoop makes the queued remote calls until the tracker stops.
func (t *tracker) remoteLoop() {
	for {
		select {
		case <-t.ctx.Done():
			return
		case call := <-t.remote:
			t.runRemote(t.ctx, call)
		}
	}
}

// runRemote makes a queued remote call unless a later change of its CID
// superseded it. Upstream's tracker keeps an error of the call in its
// operation, as for a call made by the caller.
func (t *tracker) runRemote(ctx context.Context, call remoteCall) {
	defer t.locks.lock(call.pin.Cid)()
	if !t.current(call) {
		return
	}
	if err := t.PinTracker.Track(ctx, call.pin); err != nil {
		logger.Warnf("tracking remote pin %s: %s", call.pin.Cid, err)
	}
}
