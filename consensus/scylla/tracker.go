package scylla

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"go.opencensus.io/stats"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// errorStore is what the tracker wrapper reads and writes of the store.
type errorStore interface {
	RecordTrackerError(ctx context.Context, peer string, e scyllastate.TrackerError) error
	ForgetTrackerError(ctx context.Context, peer string, c api.Cid, at time.Time) error
	TrackerError(ctx context.Context, peer string, c api.Cid) (scyllastate.TrackerError, bool, error)
	TrackerErrors(ctx context.Context, peer string, fn func(scyllastate.TrackerError) error) error
	Get(ctx context.Context, c api.Cid) (api.Pin, error)
}

// tracker wraps upstream's pin tracker for a peer of this consensus.
//
// Start: upstream's cluster runs RecoverAll at start over the whole
// pinset: it lists every pin and the whole IPFS pinset, and queues every
// missing pin at once, which at millions of pins holds them all in
// memory. With this consensus the start is covered by the catch-up and,
// on a first start, by a full recover pass that queues pins at the pace
// of pinning (see upkeep). So the wrapper answers that first RecoverAll
// with nothing.
//
// Errors: upstream's tracker keeps every failed operation in memory until
// its CID gets another operation (about 1.5 KB each): a peer whose IPFS
// cannot fetch a million pins would hold a million of them. The wrapper
// moves them to the database (tracker_errors, this peer's partitions):
// a sweep, woken by every failure and run every second, lists the
// tracker's operations in error, stores each and then makes the tracker
// forget it (forget). Status, StatusAll and Recover read them back, and
// RecoverAll (ipfs-cluster-ctl recover, and the upkeep every
// pin_recover_interval) retries them, at the pace of pinning. A row
// leaves when an operation of its CID succeeds (seen by the proxy of the
// tracker's RPC, see trackerproxy.go) or is retried and succeeds. A peer
// that restarts reports its stored errors as before.
type tracker struct {
	ipfscluster.PinTracker
	startDone atomic.Bool

	self       peer.ID
	peerName   string
	store      func(context.Context) (errorStore, error)
	queueLimit int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *rpc.Client // the cluster's
	wake   chan struct{}

	locks    keyedMutex // one operation change per CID at a time
	dropping sync.Map   // CIDs being forgotten: api.Cid -> struct{}
	sweepMu  sync.Mutex

	filterMu sync.Mutex
	seen     *cidFilter // CIDs that may have a stored error
	building *cidFilter // the filter a full read is making, or nil

	// Remote pins' Track calls (trackremote.go): a queue of CIDs, each
	// with its latest call in pending.
	remoteOn    atomic.Bool // the workers of remote calls run
	remoteReady chan struct{}
	pendingMu   sync.Mutex
	pending     map[api.Cid]remoteCall
	remoteFIFO  []api.Cid // under pendingMu, from remoteHead
	remoteHead  int
	remoteSeq   uint64
	held        *ipfsHeld // which CIDs IPFS may hold (ipfsheld.go)

	recorded   atomic.Int64 // pin errors stored (recounted at each full read)
	passDelta  int64        // changes of recorded during a full read (filterMu)
	unrecorded atomic.Int64 // pin errors the last sweep could not store
	backlog    atomic.Int64 // failures the sweep has not moved yet
}

// maxBacklog is the number of failed operations that may wait in memory
// for the sweep before a failing operation holds its tracker worker back
// (up to maxHoldBack), so that pins failing faster than the database
// stores them do not pile up in memory.
const (
	maxBacklog  = 2 * sweepBatch
	maxHoldBack = 2 * time.Second
)

// holdBack waits while the backlog exceeds maxBacklog, up to maxHoldBack
// (the database may be down: pinning must not stop).
func (t *tracker) holdBack(ctx context.Context) {
	deadline := time.Now().Add(maxHoldBack)
	for t.backlog.Load() > maxBacklog && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WrapTracker returns the pin tracker to give the cluster with this
// consensus: upstream's tracker t, whose failed operations are kept in
// the database rather than in memory. peerName is the cluster's
// peername (for the statuses it reports). The daemon also disables the
// cluster's periodic recover and state sync, which this consensus
// replaces (see its Config).
func (c *Consensus) WrapTracker(t ipfscluster.PinTracker, peerName string) ipfscluster.PinTracker {
	store := func(ctx context.Context) (errorStore, error) {
		s, err := c.Store(ctx)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return newTracker(t, c.host.ID(), peerName, store, c.cfg.PinQueueLimit)
}

func newTracker(t ipfscluster.PinTracker, self peer.ID, peerName string, store func(context.Context) (errorStore, error), queueLimit int) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	return &tracker{
		PinTracker:  t,
		self:        self,
		peerName:    peerName,
		store:       store,
		queueLimit:  int64(max(queueLimit, 1)),
		ctx:         ctx,
		cancel:      cancel,
		wake:        make(chan struct{}, 1),
		seen:        newCidFilter(true),
		pending:     map[api.Cid]remoteCall{},
		remoteReady: make(chan struct{}, 1),
		held:        newIPFSHeld(),
	}
}

// SetClient gives upstream's tracker a client whose calls the wrapper
// sees (trackerproxy.go), and starts the sweep.
func (t *tracker) SetClient(client *rpc.Client) {
	t.client = client
	own, err := newTrackerClient(t)
	if err != nil {
		// Registration of fixed, valid services: never at run time.
		panic(fmt.Sprintf("tracker proxy: %s", err))
	}
	t.PinTracker.SetClient(own)
	t.wg.Add(2)
	go func() { defer t.wg.Done(); t.loadLoop() }()
	go func() { defer t.wg.Done(); t.sweepLoop() }()
	t.startRemote()
}

// Shutdown stops the sweep, then upstream's tracker.
func (t *tracker) Shutdown(ctx context.Context) error {
	t.cancel()
	t.wg.Wait()
	return t.PinTracker.Shutdown(ctx)
}

// Track tracks a pin (one change per CID at a time, see forget). A pin
// allocated to other peers is tracked by the wrapper's workers (see
// trackremote.go).
func (t *tracker) Track(ctx context.Context, pin api.Pin) error {
	if pin.IsRemotePin(t.self) {
		return t.trackRemotePin(ctx, pin)
	}
	defer t.locks.lock(pin.Cid)()
	t.supersede(pin.Cid)
	t.held.markLocal(pin.Cid)
	return t.PinTracker.Track(ctx, pin)
}

// Untrack untracks a CID (one change per CID at a time, see forget).
func (t *tracker) Untrack(ctx context.Context, c api.Cid) error {
	defer t.locks.lock(c)()
	t.supersede(c)
	return t.PinTracker.Untrack(ctx, c)
}

// Status is upstream's, except for a CID whose failed operation was moved
// to the database: upstream's tracker no longer knows it (a pin says
// unexpectedly_unpinned, an unpin unpinned, and cluster_error while IPFS
// does not answer); the stored error is given.
func (t *tracker) Status(ctx context.Context, c api.Cid) api.PinInfo {
	pi := t.PinTracker.Status(ctx, c)
	// Upstream answers with an operation in error before asking IPFS; with
	// the operation moved, it asks IPFS, which may not answer
	// (cluster_error).
	switch pi.Status {
	case api.TrackerStatusUnexpectedlyUnpinned, api.TrackerStatusUnpinned, api.TrackerStatusClusterError:
	default:
		return pi
	}
	st, err := t.store(ctx)
	if err != nil {
		return pi
	}
	e, found, err := st.TrackerError(ctx, t.self.String(), c)
	if err != nil {
		logger.Warnf("status of %s: %s", c, err)
		return pi
	}
	if !found {
		return pi
	}
	return t.errorInfo(e, api.IPFSID{ID: pi.IPFS, Addresses: pi.IPFSAddresses})
}

// Recover retries the operation of a CID: its stored error if it has one
// (the pin as the shared pinset holds it now is tracked, or the CID
// untracked when unpinned), else upstream's Recover.
func (t *tracker) Recover(ctx context.Context, c api.Cid) (api.PinInfo, error) {
	defer t.locks.lock(c)()
	st, err := t.store(ctx)
	if err != nil {
		return api.PinInfo{}, err
	}
	e, found, err := st.TrackerError(ctx, t.self.String(), c)
	if err != nil {
		return api.PinInfo{}, err
	}
	if !found {
		t.held.markLocal(c)
		return t.PinTracker.Recover(ctx, c)
	}
	return t.retry(ctx, st, e)
}

// retry retries a stored error; the caller holds the CID's lock. The row
// stays until an operation of the CID succeeds; a failure replaces it.
func (t *tracker) retry(ctx context.Context, st errorStore, e scyllastate.TrackerError) (api.PinInfo, error) {
	t.supersede(e.Cid)
	pin, err := st.Get(ctx, e.Cid)
	switch {
	case errors.Is(err, state.ErrNotFound):
		err = t.PinTracker.Untrack(ctx, e.Cid)
	case err != nil:
		return api.PinInfo{}, fmt.Errorf("recovering %s: %w", e.Cid, err)
	case pin.Type == api.MetaType:
		// Never pinned on a peer: nothing to retry.
		err = t.forgetRow(ctx, st, e.Cid)
	case pin.IsRemotePin(t.self):
		err = t.trackRemote(ctx, pin)
	default:
		t.held.markLocal(e.Cid)
		err = t.PinTracker.Track(ctx, pin)
	}
	return t.PinTracker.Status(ctx, e.Cid), err
}

// RecoverAll retries every failed operation of this peer (stored, and
// those still in memory), waiting while the tracker holds
// pin_queue_limit queued pins, and sends the status of each. The
// cluster's call at start is answered with nothing (see tracker). Pins
// missing from IPFS without an error are the repair's (repair_interval).
func (t *tracker) RecoverAll(ctx context.Context, out chan<- api.PinInfo) error {
	defer close(out)
	if t.startDone.CompareAndSwap(false, true) {
		return nil
	}
	st, err := t.store(ctx)
	if err != nil {
		return err
	}
	t.sweep(ctx, st)
	var sent atomic.Int64
	err = t.fullRead(ctx, st, func(e scyllastate.TrackerError) error {
		if err := t.waitForRoom(ctx); err != nil {
			return err
		}
		unlock := t.locks.lock(e.Cid)
		pi, err := t.retry(ctx, st, e)
		unlock()
		if err != nil {
			logger.Warnf("recover: %s", err)
			return nil
		}
		select {
		case out <- pi:
			sent.Add(1)
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recovering the tracker's errors (%d retried): %w", sent.Load(), err)
	}
	return nil
}

// waitForRoom waits while the tracker holds pin_queue_limit queued pins.
func (t *tracker) waitForRoom(ctx context.Context) error {
	for {
		n, err := t.PinTracker.PinQueueSize(ctx)
		if err != nil || n < t.queueLimit {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// opDone is told by the proxy how each pin or unpin of the tracker ended.
func (t *tracker) opDone(ctx context.Context, c api.Cid, unpin bool, err error) {
	if err != nil {
		t.backlog.Add(1)
		select {
		case t.wake <- struct{}{}:
		default:
		}
		t.holdBack(ctx)
		return
	}
	t.filterMu.Lock()
	maybe := t.seen.maybe(c)
	t.filterMu.Unlock()
	if !maybe {
		return
	}
	st, err := t.store(ctx)
	if err == nil {
		err = t.forgetRow(ctx, st, c)
	}
	if err != nil && ctx.Err() == nil {
		logger.Warnf("%s succeeded; its stored error stays until the next recover: %s", c, err)
	}
}

// forgetRow deletes the stored error of c, if there is one (the filter
// of CIDs with a stored error has false positives): the gauge counts the
// row it deletes, whatever operation succeeded. The deletion is stamped
// now, so a failure recorded later stays.
func (t *tracker) forgetRow(ctx context.Context, st errorStore, c api.Cid) error {
	at := time.Now()
	prev, found, err := st.TrackerError(ctx, t.self.String(), c)
	if err != nil || !found {
		return err
	}
	if err := st.ForgetTrackerError(ctx, t.self.String(), c, at); err != nil {
		return err
	}
	if !prev.Unpin {
		t.countPinErrors(-1)
	}
	t.report()
	return nil
}

// countPinErrors adds d to the stored pin errors counted for the gauge
// (and to the changes made during a full read, which recounts them).
func (t *tracker) countPinErrors(d int64) {
	t.filterMu.Lock()
	if t.building != nil {
		t.passDelta += d
	}
	t.filterMu.Unlock()
	if t.recorded.Add(d) < 0 {
		t.recorded.Store(0)
	}
}

// report records upstream's pins_pin_error gauge: the pin errors stored
// and those in memory. Upstream's tracker records its own count (the
// errors in its memory) when an operation changes; the sweep that follows
// every failure records this one after it.
func (t *tracker) report() {
	stats.Record(t.ctx, observations.PinsPinError.M(max(t.recorded.Load(), 0)+t.unrecorded.Load()))
}

// errorInfo is the status of a stored error.
func (t *tracker) errorInfo(e scyllastate.TrackerError, ipfs api.IPFSID) api.PinInfo {
	status := api.TrackerStatusPinError
	if e.Unpin {
		status = api.TrackerStatusUnpinError
	}
	return api.PinInfo{
		Cid:         e.Cid,
		Name:        e.Pin.Name,
		Peer:        t.self,
		Allocations: e.Pin.Allocations,
		Origins:     e.Pin.Origins,
		Created:     e.Pin.Timestamp,
		Metadata:    e.Pin.Metadata,
		PinInfoShort: api.PinInfoShort{
			PeerName:      t.peerName,
			IPFS:          ipfs.ID,
			IPFSAddresses: ipfs.Addresses,
			Status:        status,
			TS:            e.FailedAt,
			Error:         e.Error,
			AttemptCount:  e.Attempts,
		},
	}
}

// ipfsID is this peer's IPFS daemon, as upstream's tracker reports it.
func (t *tracker) ipfsID(ctx context.Context) api.IPFSID {
	var id api.IPFSID
	if t.client == nil {
		return id
	}
	if err := t.client.CallContext(ctx, "", "Cluster", "IPFSID", peer.ID(""), &id); err != nil {
		logger.Debugf("IPFS ID: %s", err)
	}
	return id
}
