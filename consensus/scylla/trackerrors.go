package scylla

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// How the tracker wrapper moves failed operations out of memory (see
// tracker): the sweep, the forgetting of an operation, the full reads of
// this peer's stored errors and StatusAll.

const (
	// sweepEvery is how often the sweep runs when no failure wakes it.
	sweepEvery = time.Second
	// sweepBatch bounds the operations in error one sweep lists at once.
	sweepBatch = 4096
	// sweepWorkers store and forget operations in parallel.
	sweepWorkers = 16
	// statusLookups bound the parallel reads of a full StatusAll.
	statusLookups = 8
)

const (
	errorStatuses = api.TrackerStatusPinError | api.TrackerStatusUnpinError
	// pinsetStatuses are those upstream's StatusAll reads the pinset for.
	pinsetStatuses = api.TrackerStatusPinned | api.TrackerStatusUnexpectedlyUnpinned |
		api.TrackerStatusSharded | api.TrackerStatusRemote
	// opStatuses are the statuses of operations in upstream's tracker.
	opStatuses = errorStatuses | api.TrackerStatusPinQueued | api.TrackerStatusUnpinQueued |
		api.TrackerStatusPinning | api.TrackerStatusUnpinning
)

// sweepLoop sweeps every sweepEvery, and at once after a failure, until
// the wrapper shuts down.
func (t *tracker) sweepLoop() {
	st, err := t.store(t.ctx)
	if err != nil {
		return
	}
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.wake:
		case <-tick.C:
		}
		t.sweep(t.ctx, st)
	}
}

// sweep stores every operation in error that upstream's tracker holds and
// makes it forget them. An operation whose row cannot be written stays in
// memory (upstream's behaviour) until a later sweep stores it.
func (t *tracker) sweep(ctx context.Context, st errorStore) {
	t.sweepMu.Lock()
	defer t.sweepMu.Unlock()
	for ctx.Err() == nil {
		batch, more := t.memoryErrors(ctx, sweepBatch)
		var failed, pinErrors atomic.Int64
		var firstErr atomic.Value
		work := make(chan api.PinInfo)
		var wg sync.WaitGroup
		for range min(sweepWorkers, max(len(batch), 1)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pi := range work {
					if err := t.offload(ctx, st, pi); err != nil {
						failed.Add(1)
						if pi.Status == api.TrackerStatusPinError {
							pinErrors.Add(1)
						}
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		for _, pi := range batch {
			work <- pi
		}
		close(work)
		wg.Wait()
		t.unrecorded.Store(pinErrors.Load())
		t.report()
		if moved := int64(len(batch)) - failed.Load(); t.backlog.Add(-moved) < 0 || !more {
			t.backlog.Store(failed.Load())
		}
		if n := failed.Load(); n > 0 {
			if ctx.Err() == nil {
				logger.Warnf("%d failed operations stay in the tracker's memory (tried again in %s): %v", n, sweepEvery, firstErr.Load())
			}
			return
		}
		if !more {
			return
		}
	}
}

// memoryErrors lists up to n operations in error in upstream's tracker.
// The listing holds the tracker's lock while it sends: it is read whole
// before any operation is changed.
func (t *tracker) memoryErrors(ctx context.Context, n int) (out []api.PinInfo, more bool) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan api.PinInfo, 1024)
	go func() { _ = t.PinTracker.StatusAll(lctx, errorStatuses, ch) }()
	for pi := range ch {
		if len(out) == n {
			more = true
			cancel()
			continue // drain until the tracker closes ch
		}
		out = append(out, pi)
	}
	return out, more
}

// offload stores an operation in error and makes the tracker forget it,
// if it is still in error once its CID is locked.
func (t *tracker) offload(ctx context.Context, st errorStore, listed api.PinInfo) error {
	defer t.locks.lock(listed.Cid)()
	pi := t.PinTracker.Status(ctx, listed.Cid)
	if pi.Status != api.TrackerStatusPinError && pi.Status != api.TrackerStatusUnpinError {
		return nil // changed meanwhile (retried, untracked)
	}
	e := scyllastate.TrackerError{
		Cid:      pi.Cid,
		Unpin:    pi.Status == api.TrackerStatusUnpinError,
		Error:    pi.Error,
		Attempts: pi.AttemptCount,
		FailedAt: pi.TS,
		Pin: api.Pin{
			Cid:         pi.Cid,
			Type:        api.DataType,
			Allocations: pi.Allocations,
			Timestamp:   pi.Created,
			PinOptions:  api.PinOptions{Name: pi.Name, Metadata: pi.Metadata, Origins: pi.Origins},
		},
	}
	// Into the filter before the row, so that a success that follows
	// deletes it.
	t.filterMu.Lock()
	t.seen.add(e.Cid)
	if t.building != nil {
		t.building.add(e.Cid)
	}
	t.filterMu.Unlock()
	// The gauge counts rows: the row this one replaces, if any, is read
	// (the filter has false positives).
	prev, found, err := st.TrackerError(ctx, t.self.String(), e.Cid)
	if err != nil {
		return err
	}
	if err := st.RecordTrackerError(ctx, t.self.String(), e); err != nil {
		return err
	}
	var delta int64
	if !e.Unpin {
		delta++
	}
	if found && !prev.Unpin {
		delta--
	}
	t.countPinErrors(delta)
	return t.forget(ctx, e.Cid)
}

// forget makes upstream's tracker drop the operation of c, which it would
// keep until c gets another operation. Its only ways to drop one are a
// success and the end of a remote pin: the wrapper tracks c as a pin
// allocated to other peers, whose operation replaces the one in error,
// and answers the unpin of IPFS it makes with success without calling
// IPFS (the proxy, see trackerproxy.go); the tracker then cleans it. The
// caller holds the lock of c, so no other change of c comes between.
func (t *tracker) forget(ctx context.Context, c api.Cid) error {
	t.dropping.Store(c, struct{}{})
	defer t.dropping.Delete(c)
	remote := api.Pin{
		Cid:        c,
		Type:       api.DataType,
		PinOptions: api.PinOptions{ReplicationFactorMin: 1, ReplicationFactorMax: 1},
	}
	return t.PinTracker.Track(ctx, remote)
}

// forgetting tells the proxy whether an unpin of c is forget's.
func (t *tracker) forgetting(c api.Cid) bool {
	_, ok := t.dropping.Load(c)
	return ok
}

// loadLoop reads this peer's stored errors once at start (retried until
// it works): the filter of CIDs that may have one, and the count of pin
// errors (the gauge).
func (t *tracker) loadLoop() {
	st, err := t.store(t.ctx)
	if err != nil {
		return
	}
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		// No sweep while the count is read: a row a sweep stores before
		// the read reaches it would be counted twice (by the read and by
		// the sweep's change). Failures wait in memory meanwhile.
		t.sweepMu.Lock()
		err := t.fullRead(t.ctx, st, func(scyllastate.TrackerError) error { return nil })
		t.sweepMu.Unlock()
		if err == nil || t.ctx.Err() != nil {
			return
		}
		logger.Warnf("reading this peer's stored tracker errors (trying again in %s): %s", wait, err)
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// fullRead calls fn for each stored error of this peer and, when the read
// completes, replaces the filter with the one made from it and the count
// of pin errors with the one read.
func (t *tracker) fullRead(ctx context.Context, st errorStore, fn func(scyllastate.TrackerError) error) error {
	f := newCidFilter(false)
	t.filterMu.Lock()
	t.building, t.passDelta = f, 0
	t.filterMu.Unlock()
	var pins atomic.Int64
	err := st.TrackerErrors(ctx, t.self.String(), func(e scyllastate.TrackerError) error {
		t.filterMu.Lock()
		f.add(e.Cid)
		t.filterMu.Unlock()
		if !e.Unpin {
			pins.Add(1)
		}
		return fn(e)
	})
	t.filterMu.Lock()
	mine := t.building == f
	delta := t.passDelta
	if mine {
		t.building = nil
		if err == nil {
			t.seen = f
		}
	}
	t.filterMu.Unlock()
	if err == nil && mine {
		// The rows read, changed by what the read's own retries and the
		// sweeps did meanwhile: exact but for rows changed before the
		// read reached them.
		t.recorded.Store(max(pins.Load()+delta, 0))
		t.report()
	}
	return err
}

// StatusAll is upstream's, with the stored errors. Filtered on error
// (ipfs-cluster-ctl status --filter error), it sends the operations in
// memory, then streams this peer's stored errors from the database,
// skipping the CIDs that have an operation in memory (a retry under way):
// memory is bounded by the tracker queue, not by the errors. A listing of
// the whole pinset gives a pin whose stored error exists that error
// instead of unexpectedly_unpinned.
func (t *tracker) StatusAll(ctx context.Context, filter api.TrackerStatus, out chan<- api.PinInfo) error {
	if filter != api.TrackerStatusUndefined && filter&errorStatuses == 0 {
		return t.PinTracker.StatusAll(ctx, filter, out)
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
	go func() { errc <- t.PinTracker.StatusAll(ctx, inner, ch) }()
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
	t.filterMu.Lock()
	maybe := t.seen.maybe(pi.Cid)
	t.filterMu.Unlock()
	if !maybe {
		return pi
	}
	e, found, err := st.TrackerError(ctx, t.self.String(), pi.Cid)
	if err != nil || !found || e.Unpin {
		return pi
	}
	return t.errorInfo(e, api.IPFSID{ID: pi.IPFS, Addresses: pi.IPFSAddresses})
}
