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
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

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
// forget it (storedErrors, trackerrors.go). Status, StatusAll and
// Recover read them back, and RecoverAll (ipfs-cluster-ctl recover, and
// the upkeep every pin_recover_interval) retries them, at the pace of
// pinning. A row
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

	locks keyedMutex    // one operation change per CID at a time
	errs  *storedErrors // the failed operations, moved to the database (trackerrors.go)
	// remote makes remote pins' Track calls (trackremote.go).
	remote *remotePins
	held   *ipfsHeld // which CIDs IPFS may hold (ipfsheld.go)
	// notReady tells, without waiting, whether the shared pinset can be
	// used (Consensus.notReady): the calls that need it fail at once with
	// its error rather than wait for the database.
	notReady func() error
}

// newTracker wraps upstream's tracker t for peer self (peerName), whose
// failed operations are kept through store; queueLimit is
// pin_queue_limit, the queued pins RecoverAll waits below.
func newTracker(t ipfscluster.PinTracker, self peer.ID, peerName string, store func(context.Context) (errorStore, error), queueLimit int) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &tracker{
		PinTracker: t,
		self:       self,
		peerName:   peerName,
		store:      store,
		queueLimit: int64(max(queueLimit, 1)),
		ctx:        ctx,
		cancel:     cancel,
		held:       newIPFSHeld(),
		notReady:   func() error { return nil },
	}
	w.errs = newStoredErrors(ctx, t, self, store, &w.locks)
	w.remote = newRemotePins(&w.locks, w.held, t.Track)
	return w
}

// SetClient gives upstream's tracker a client whose calls the wrapper
// sees (trackerproxy.go), and starts the sweep.
func (t *tracker) SetClient(client *rpc.Client) {
	t.client = client
	own, err := newTrackerClient(client, t.errs)
	if err != nil {
		// Registration of fixed, valid services: never at run time.
		panic(fmt.Sprintf("tracker proxy: %s", err))
	}
	t.PinTracker.SetClient(own)
	t.wg.Add(2)
	go func() { defer t.wg.Done(); t.errs.loadLoop() }()
	go func() { defer t.wg.Done(); t.errs.sweepLoop() }()
	t.remote.startRemote(t.ctx, &t.wg, t.client)
}

// Shutdown stops the sweep, then upstream's tracker.
func (t *tracker) Shutdown(ctx context.Context) error {
	t.cancel()
	t.wg.Wait()
	return t.PinTracker.Shutdown(ctx)
}

// Track tracks a pin (one change per CID at a time, see
// storedErrors.forget). A pin allocated to other peers is tracked by the
// wrapper's workers (see trackremote.go).
func (t *tracker) Track(ctx context.Context, pin api.Pin) error {
	if pin.IsRemotePin(t.self) {
		return t.remote.trackRemotePin(ctx, pin)
	}
	defer t.locks.lock(pin.Cid)()
	t.remote.supersede(pin.Cid)
	t.held.markLocal(pin.Cid)
	return t.PinTracker.Track(ctx, pin)
}

// Untrack untracks a CID (one change per CID at a time, see
// storedErrors.forget).
func (t *tracker) Untrack(ctx context.Context, c api.Cid) error {
	defer t.locks.lock(c)()
	t.remote.supersede(c)
	return t.PinTracker.Untrack(ctx, c)
}

// Status is upstream's, except for a CID whose failed operation was moved
// to the database: upstream's tracker no longer knows it (a pin says
// unexpectedly_unpinned, an unpin unpinned, and cluster_error while IPFS
// does not answer); the stored error is given. Before the peer is ready,
// it is cluster_error with why, at once.
func (t *tracker) Status(ctx context.Context, c api.Cid) api.PinInfo {
	if err := t.notReady(); err != nil {
		return t.notReadyInfo(ctx, c, err)
	}
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

// notReadyInfo is the status of c while the shared pinset cannot be used
// (err, from notReady).
func (t *tracker) notReadyInfo(ctx context.Context, c api.Cid, err error) api.PinInfo {
	ipfs := t.ipfsID(ctx)
	return api.PinInfo{
		Cid:  c,
		Peer: t.self,
		PinInfoShort: api.PinInfoShort{
			PeerName:      t.peerName,
			IPFS:          ipfs.ID,
			IPFSAddresses: ipfs.Addresses,
			Status:        api.TrackerStatusClusterError,
			TS:            time.Now(),
			Error:         err.Error(),
		},
	}
}

// Recover retries the operation of a CID: its stored error if it has one
// (the pin as the shared pinset holds it now is tracked, or the CID
// untracked when unpinned), else upstream's Recover. Before the peer is
// ready, it fails at once.
func (t *tracker) Recover(ctx context.Context, c api.Cid) (api.PinInfo, error) {
	if err := t.notReady(); err != nil {
		return t.notReadyInfo(ctx, c, err), err
	}
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
	t.remote.supersede(e.Cid)
	pin, err := st.Get(ctx, e.Cid)
	switch {
	case errors.Is(err, state.ErrNotFound):
		err = t.PinTracker.Untrack(ctx, e.Cid)
	case err != nil:
		return api.PinInfo{}, fmt.Errorf("recovering %s: %w", e.Cid, err)
	case pin.Type == api.MetaType:
		// Never pinned on a peer: nothing to retry.
		err = t.errs.forgetRow(ctx, st, e.Cid)
	case pin.IsRemotePin(t.self):
		err = t.remote.trackRemote(ctx, pin)
	default:
		t.held.markLocal(e.Cid)
		err = t.PinTracker.Track(ctx, pin)
	}
	return t.PinTracker.Status(ctx, e.Cid), err
}

// RecoverAll retries every failed operation of this peer (stored, and
// those still in memory), waiting while the tracker holds
// pin_queue_limit queued pins, and sends the status of each. The
// cluster's call at start is answered with nothing (see tracker), any
// other before the peer is ready fails at once. Pins missing from IPFS
// without an error are the repair's (repair_interval).
func (t *tracker) RecoverAll(ctx context.Context, out chan<- api.PinInfo) error {
	defer close(out)
	if t.startDone.CompareAndSwap(false, true) {
		return nil
	}
	if err := t.notReady(); err != nil {
		return err
	}
	st, err := t.store(ctx)
	if err != nil {
		return err
	}
	t.errs.sweep(ctx, st)
	err = t.errs.fullRead(ctx, st, func(e scyllastate.TrackerError) error {
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
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the stored errors: %w", err)
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

// errorInfo is the status of a stored error.
func (t *tracker) errorInfo(e scyllastate.TrackerError, ipfs api.IPFSID) api.PinInfo {
	return storedErrorInfo(e, t.self, peerInfo{Peername: t.peerName, IPFSID: ipfs.ID, IPFSAddresses: ipfs.Addresses})
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

// statusLookups bound the parallel reads of a full StatusAll.
const statusLookups = 8

// StatusAll is upstream's, with the stored errors. Filtered on error
// (ipfs-cluster-ctl status --filter error), it sends the operations in
// memory, then streams this peer's stored errors from the database,
// skipping the CIDs that have an operation in memory (a retry under way):
// memory is bounded by the tracker queue, not by the errors. A listing of
// the whole pinset gives a pin whose stored error exists that error
// instead of unexpectedly_unpinned.
//
// A listing that needs the shared pinset fails at once before the peer
// is ready, and fails with the error of the pinset's listing when that
// listing failed (upstream's tracker only logs it: the status would look
// like that of an empty pinset), after the statuses sent until then.
func (t *tracker) StatusAll(ctx context.Context, filter api.TrackerStatus, out chan<- api.PinInfo) error {
	if filter != api.TrackerStatusUndefined && !filter.Match(pinsetStatuses|errorStatuses) {
		// Operations in memory only.
		return t.PinTracker.StatusAll(ctx, filter, out)
	}
	if err := t.notReady(); err != nil {
		close(out)
		return err
	}
	if filter != api.TrackerStatusUndefined && filter&errorStatuses == 0 {
		return listingPinset(ctx, func(ctx context.Context) error {
			return t.PinTracker.StatusAll(ctx, filter, out)
		})
	}
	st, err := t.store(ctx)
	if err != nil {
		close(out)
		return err
	}
	// As upstream's tracker: a filter on none of the statuses that need
	// the pinset lists operations only.
	if !filter.Match(pinsetStatuses) {
		return t.errorStatusAll(ctx, st, filter, out)
	}
	return t.fullStatusAll(ctx, st, filter, out)
}

// listingPinset runs call, a StatusAll of upstream's tracker, and returns
// its error, else that of the listing of the pinset it made (see
// listerrors.go).
func listingPinset(ctx context.Context, call func(context.Context) error) error {
	ctx, failures := withListFailures(ctx)
	if err := call(ctx); err != nil {
		return err
	}
	if err := failures.failed(); err != nil {
		return fmt.Errorf("status of the shared pinset: %w", err)
	}
	return nil
}

func send(ctx context.Context, out chan<- api.PinInfo, pi api.PinInfo) error {
	select {
	case out <- pi:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *tracker) errorStatusAll(ctx context.Context, st errorStore, filter api.TrackerStatus, out chan<- api.PinInfo) error {
	defer close(out)
	ch := make(chan api.PinInfo, 1024)
	go func() { _ = t.PinTracker.StatusAll(ctx, opStatuses, ch) }()
	var ops []api.PinInfo
	for pi := range ch {
		ops = append(ops, pi)
	}
	inMemory := make(map[api.Cid]struct{}, len(ops))
	for _, pi := range ops {
		inMemory[pi.Cid] = struct{}{}
		if pi.Status.Match(filter) {
			if err := send(ctx, out, pi); err != nil {
				return err
			}
		}
	}
	ipfs := t.ipfsID(ctx)
	return st.TrackerErrors(ctx, t.self.String(), func(e scyllastate.TrackerError) error {
		if _, ok := inMemory[e.Cid]; ok {
			return nil
		}
		pi := t.errorInfo(e, ipfs)
		if !pi.Status.Match(filter) {
			return nil
		}
		return send(ctx, out, pi)
	})
}

func (t *tracker) fullStatusAll(ctx context.Context, st errorStore, filter api.TrackerStatus, out chan<- api.PinInfo) error {
	defer close(out)
	inner := filter
	if filter != api.TrackerStatusUndefined {
		inner |= api.TrackerStatusUnexpectedlyUnpinned
	}
	ch := make(chan api.PinInfo, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- listingPinset(ctx, func(ctx context.Context) error { return t.PinTracker.StatusAll(ctx, inner, ch) })
	}()
	var wg sync.WaitGroup
	var sendErr atomic.Value
	for range statusLookups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pi := range ch {
				if sendErr.Load() != nil {
					continue // drain
				}
				if pi.Status == api.TrackerStatusUnexpectedlyUnpinned {
					pi = t.withStoredError(ctx, st, pi)
				}
				if !pi.Status.Match(filter) {
					continue
				}
				if err := send(ctx, out, pi); err != nil {
					sendErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err := <-errc; err != nil {
		return err
	}
	if err, _ := sendErr.Load().(error); err != nil {
		return err
	}
	return nil
}

// withStoredError gives a pin missing from IPFS its stored error, if the
// filter says it may have one.
func (t *tracker) withStoredError(ctx context.Context, st errorStore, pi api.PinInfo) api.PinInfo {
	if !t.errs.mayHave(pi.Cid) {
		return pi
	}
	e, found, err := st.TrackerError(ctx, t.self.String(), pi.Cid)
	if err != nil || !found || e.Unpin {
		return pi
	}
	return t.errorInfo(e, api.IPFSID{ID: pi.IPFS, Addresses: pi.IPFSAddresses})
}
