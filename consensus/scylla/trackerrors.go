package scylla

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"go.opencensus.io/stats"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// How the tracker wrapper moves failed operations out of memory (see
// tracker): the stored errors, their filter and count, and the full reads
// of this peer's rows (the sweep is in errorsweep.go).

const (
	// sweepEvery is how often the sweep runs when no failure wakes it.
	sweepEvery = time.Second
	// sweepBatch bounds the operations in error one sweep lists at once.
	sweepBatch = 4096
	// sweepWorkers store and forget operations in parallel.
	sweepWorkers = 16
)

// errorStore is what the tracker wrapper reads and writes of the store.
type errorStore interface {
	RecordTrackerError(ctx context.Context, peer string, e scyllastate.TrackerError) error
	ForgetTrackerError(ctx context.Context, peer string, c api.Cid, at time.Time) error
	TrackerError(ctx context.Context, peer string, c api.Cid) (scyllastate.TrackerError, bool, error)
	TrackerErrors(ctx context.Context, peer string, fn func(scyllastate.TrackerError) error) error
	Get(ctx context.Context, c api.Cid) (api.Pin, error)
}

// maxBacklog is the number of failed operations that may wait in memory
// for the sweep before a failing operation holds its tracker worker back
// (up to maxHoldBack), so that pins failing faster than the database
// stores them do not pile up in memory.
const (
	maxBacklog  = 2 * sweepBatch
	maxHoldBack = 2 * time.Second
)

// storedErrors keeps the failed operations of upstream's tracker in the
// database rather than in memory, for the tracker wrapper (see tracker):
// the sweep that moves them there, the filter of the CIDs that may have a
// stored error, the count of stored pin errors (upstream's pins_pin_error
// gauge), and the deletion of a row when an operation of its CID
// succeeds. Its loops run in the wrapper's goroutines until the wrapper's
// context ends.
type storedErrors struct {
	upstream ipfscluster.PinTracker
	self     peer.ID
	store    func(context.Context) (errorStore, error)
	locks    *keyedMutex     // the wrapper's: one change per CID at a time
	ctx      context.Context // the wrapper's
	wake     chan struct{}

	dropping sync.Map // CIDs being forgotten: api.Cid -> struct{}
	sweepMu  sync.Mutex

	filterMu sync.Mutex
	seen     *cidFilter // CIDs that may have a stored error
	building *cidFilter // the filter a full read is making, or nil
	// storing counts, per CID, the sweeps between putting it in the
	// filter and the end of its row's write: a full read that starts
	// meanwhile may pass the row before it is written, so its filter
	// takes them from here.
	storing map[api.Cid]int

	recorded   atomic.Int64 // pin errors stored (recounted at each full read)
	passDelta  int64        // changes of recorded during a full read (filterMu)
	unrecorded atomic.Int64 // pin errors the last sweep could not store
	backlog    atomic.Int64 // failures the sweep has not moved yet
}

// newStoredErrors returns the stored errors of upstream's tracker t on
// peer self, read and written through store, changed under locks; ctx
// stops their loops.
func newStoredErrors(ctx context.Context, t ipfscluster.PinTracker, self peer.ID, store func(context.Context) (errorStore, error), locks *keyedMutex) *storedErrors {
	return &storedErrors{
		upstream: t,
		self:     self,
		store:    store,
		locks:    locks,
		ctx:      ctx,
		wake:     make(chan struct{}, 1),
		seen:     newCidFilter(true),
		storing:  map[api.Cid]int{},
	}
}

// mayHave tells whether c may have a stored error (the filter has false
// positives).
func (s *storedErrors) mayHave(c api.Cid) bool {
	s.filterMu.Lock()
	maybe := s.seen.maybe(c)
	s.filterMu.Unlock()
	return maybe
}

// holdBack waits while the backlog exceeds maxBacklog, up to maxHoldBack
// (the database may be down: pinning must not stop).
func (s *storedErrors) holdBack(ctx context.Context) {
	deadline := time.Now().Add(maxHoldBack)
	for s.backlog.Load() > maxBacklog && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// opDone is told by the proxy how each pin or unpin of the tracker ended.
func (s *storedErrors) opDone(ctx context.Context, c api.Cid, unpin bool, err error) {
	if err != nil {
		s.backlog.Add(1)
		select {
		case s.wake <- struct{}{}:
		default:
		}
		s.holdBack(ctx)
		return
	}
	if !s.mayHave(c) {
		return
	}
	st, err := s.store(ctx)
	if err == nil {
		err = s.forgetRow(ctx, st, c)
	}
	if err != nil && ctx.Err() == nil {
		logger.Warnf("%s succeeded; its stored error stays until the next recover: %s", c, err)
	}
}

// forgetRow deletes the stored error of c, if there is one (the filter
// of CIDs with a stored error has false positives): the gauge counts the
// row it deletes, whatever operation succeeded. The deletion is stamped
// now, so a failure recorded later stays.
func (s *storedErrors) forgetRow(ctx context.Context, st errorStore, c api.Cid) error {
	at := time.Now()
	prev, found, err := st.TrackerError(ctx, s.self.String(), c)
	if err != nil || !found {
		return err
	}
	if err := st.ForgetTrackerError(ctx, s.self.String(), c, at); err != nil {
		return err
	}
	if !prev.Unpin {
		s.countPinErrors(-1)
	}
	s.report()
	return nil
}

// countPinErrors adds d to the stored pin errors counted for the gauge
// (and to the changes made during a full read, which recounts them).
func (s *storedErrors) countPinErrors(d int64) {
	s.filterMu.Lock()
	if s.building != nil {
		s.passDelta += d
	}
	s.filterMu.Unlock()
	if s.recorded.Add(d) < 0 {
		s.recorded.Store(0)
	}
}

// report records the pins_pin_error gauge: the pin errors stored and
// those the last sweep could not store (see UseStoredPinErrorGauge).
func (s *storedErrors) report() {
	stats.Record(s.ctx, storedPinErrors.M(max(s.recorded.Load(), 0)+s.unrecorded.Load()))
}

// loadLoop reads this peer's stored errors once at start (retried until
// it works): the filter of CIDs that may have one, and the count of pin
// errors (the gauge).
func (s *storedErrors) loadLoop() {
	st, err := s.store(s.ctx)
	if err != nil {
		return
	}
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		// No sweep while the count is read: a row a sweep stores before
		// the read reaches it would be counted twice (by the read and by
		// the sweep's change). Failures wait in memory meanwhile.
		s.sweepMu.Lock()
		err := s.fullRead(s.ctx, st, func(scyllastate.TrackerError) error { return nil })
		s.sweepMu.Unlock()
		if err == nil || s.ctx.Err() != nil {
			return
		}
		logger.Warnf("reading this peer's stored tracker errors (trying again in %s): %s", wait, err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// fullRead calls fn for each stored error of this peer and, when the read
// completes, replaces the filter with the one made from it and the count
// of pin errors with the one read.
func (s *storedErrors) fullRead(ctx context.Context, st errorStore, fn func(scyllastate.TrackerError) error) error {
	f := newCidFilter(false)
	s.filterMu.Lock()
	s.building, s.passDelta = f, 0
	for c := range s.storing {
		f.add(c)
	}
	s.filterMu.Unlock()
	var pins atomic.Int64
	err := st.TrackerErrors(ctx, s.self.String(), func(e scyllastate.TrackerError) error {
		s.filterMu.Lock()
		f.add(e.Cid)
		s.filterMu.Unlock()
		if !e.Unpin {
			pins.Add(1)
		}
		return fn(e)
	})
	s.filterMu.Lock()
	mine := s.building == f
	delta := s.passDelta
	if mine {
		s.building = nil
		if err == nil {
			s.seen = f
		}
	}
	s.filterMu.Unlock()
	if err == nil && mine {
		// The rows read, changed by what the read's own retries and the
		// sweeps did meanwhile: exact but for rows changed before the
		// read reached them.
		s.recorded.Store(max(pins.Load()+delta, 0))
		s.report()
	}
	return err
}
