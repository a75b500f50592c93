package scylla

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The sweep of the stored errors: it moves the operations in error out
// of upstream's tracker into the database, and makes the tracker forget
// them.

// sweepLoop sweeps every sweepEvery, and at once after a failure, until
// the wrapper shuts down.
func (s *storedErrors) sweepLoop() {
	st, err := s.store(s.ctx)
	if err != nil {
		return
	}
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
		s.sweep(s.ctx, st)
	}
}

// sweep stores every operation in error that upstream's tracker holds and
// makes it forget them. An operation whose row cannot be written stays in
// memory (upstream's behaviour) until a later sweep stores it.
func (s *storedErrors) sweep(ctx context.Context, st errorStore) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	for ctx.Err() == nil {
		batch, more := s.memoryErrors(ctx, sweepBatch)
		var failed, pinErrors atomic.Int64
		var firstErr atomic.Value
		work := make(chan api.PinInfo)
		var wg sync.WaitGroup
		for range min(sweepWorkers, max(len(batch), 1)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pi := range work {
					if err := s.offload(ctx, st, pi); err != nil {
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
		s.unrecorded.Store(pinErrors.Load())
		s.report()
		if moved := int64(len(batch)) - failed.Load(); s.backlog.Add(-moved) < 0 || !more {
			s.backlog.Store(failed.Load())
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
func (s *storedErrors) memoryErrors(ctx context.Context, n int) (out []api.PinInfo, more bool) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan api.PinInfo, 1024)
	go func() { _ = s.upstream.StatusAll(lctx, errorStatuses, ch) }()
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
func (s *storedErrors) offload(ctx context.Context, st errorStore, listed api.PinInfo) error {
	defer s.locks.lock(listed.Cid)()
	pi := s.upstream.Status(ctx, listed.Cid)
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
	s.filterMu.Lock()
	stored := s.seen.maybe(e.Cid)
	s.seen.add(e.Cid)
	if s.building != nil {
		s.building.add(e.Cid)
	}
	s.storing[e.Cid]++
	s.filterMu.Unlock()
	defer func() {
		s.filterMu.Lock()
		if s.storing[e.Cid]--; s.storing[e.Cid] <= 0 {
			delete(s.storing, e.Cid)
		}
		s.filterMu.Unlock()
	}()
	// The gauge counts rows: the row this one replaces, if any, is read.
	// The filter has false positives but no false negatives (it answers
	// yes for every CID until it is loaded): a CID it did not hold has no
	// row, and a first failure, the usual one, costs no read.
	var (
		prev  scyllastate.TrackerError
		found bool
	)
	if stored {
		var err error
		if prev, found, err = st.TrackerError(ctx, s.self.String(), e.Cid); err != nil {
			return err
		}
	}
	if err := st.RecordTrackerError(ctx, s.self.String(), e); err != nil {
		return err
	}
	var delta int64
	if !e.Unpin {
		delta++
	}
	if found && !prev.Unpin {
		delta--
	}
	s.countPinErrors(delta)
	return s.forget(ctx, e.Cid)
}

// forget makes upstream's tracker drop the operation of c, which it would
// keep until c gets another operation. Its only ways to drop one are a
// success and the end of a remote pin: the wrapper tracks c as a pin
// allocated to other peers, whose operation replaces the one in error,
// and answers the unpin of IPFS it makes with success without calling
// IPFS (the proxy, see trackerproxy.go); the tracker then cleans it. The
// caller holds the lock of c, so no other change of c comes between.
func (s *storedErrors) forget(ctx context.Context, c api.Cid) error {
	s.dropping.Store(c, struct{}{})
	defer s.dropping.Delete(c)
	remote := api.Pin{
		Cid:        c,
		Type:       api.DataType,
		PinOptions: api.PinOptions{ReplicationFactorMin: 1, ReplicationFactorMax: 1},
	}
	return s.upstream.Track(ctx, remote)
}

// forgetting tells the proxy whether an unpin of c is forget's.
func (s *storedErrors) forgetting(c api.Cid) bool {
	_, ok := s.dropping.Load(c)
	return ok
}
