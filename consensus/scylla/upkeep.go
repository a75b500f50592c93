package scylla

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"go.opencensus.io/stats"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// upkeepStore is what the periodic work reads and writes of the store.
type upkeepStore interface {
	ReadVersion(ctx context.Context, c api.Cid) (scyllastate.RowVersion, error)
	ScanSlice(ctx context.Context, i, n int, fn func(scyllastate.SliceEntry) error) error
	Expired(ctx context.Context, from, to time.Time, fn func(scyllastate.ExpiryEntry) error) error
	Get(ctx context.Context, c api.Cid) (api.Pin, error)
	ForgetExpiry(ctx context.Context, e scyllastate.ExpiryEntry) error
}

// peerCalls is what the periodic work asks of the other components of
// this peer (through the cluster's RPC).
type peerCalls interface {
	// TrustedPeers returns the trusted peers of the peerset.
	TrustedPeers(ctx context.Context) ([]peer.ID, error)
	// PinLsCid tells how IPFS holds a CID (with the pin's max depth).
	PinLsCid(ctx context.Context, pin api.Pin) (api.IPFSPinStatus, error)
	// Unpin unpins through the cluster (for expired pins).
	Unpin(ctx context.Context, pin api.Pin) error
	// RecoverErrors asks the tracker to retry its failed operations
	// (RecoverAll: those stored in the database, at the pace of
	// pinning) and returns how many it retried.
	RecoverErrors(ctx context.Context) (int, error)
}

// repairMetrics is what the periodic work records (feedMetrics).
type repairMetrics interface {
	repaired(op scyllastate.Op)
}

// upkeepSettings are the settings of the periodic work.
type upkeepSettings struct {
	slices            int           // recover_slices
	repairInterval    time.Duration // every slice is repaired once per repair_interval
	readRate          int           // repair_read_rate: pins per second, all peers together
	recoverInterval   time.Duration // pin_recover_interval: the tracker's errors
	stateSyncInterval time.Duration // state_sync_interval: expired pins
	queueLimit        int           // pin_queue_limit
	overlap           time.Duration // feed_overlap: a row is written within it after its event
	retention         time.Duration // event_retention
	timeout           time.Duration // of one call
}

// upkeep runs the periodic work of a peer without scanning the whole
// shared pinset at once, replacing upstream's StateSync and
// RecoverAllLocal loops (the daemon disables those):
//
//   - expiry: every state_sync_interval, the expired pins are read from the
//     expiry index (not from a full scan) and unpinned by the peer
//     closest to each CID, as upstream's StateSync does; an entry whose
//     check fails is kept and tried again;
//   - recover: every pin_recover_interval, the failed operations of this
//     peer's tracker are retried (read from the database, where the
//     tracker wrapper keeps them, at the pace of pinning; one pass at a
//     time, beside the other work);
//   - repair (anti-entropy): one slice of the shared pinset every
//     repair_interval/recover_slices, so that the whole pinset is checked
//     once per repair_interval: a pin this peer should hold that IPFS does
//     not hold is tracked, a CID unpinned within event_retention (the
//     marker of its unpin) that IPFS still holds is untracked, each after
//     reading its row again and through the applier's claims. A change
//     the feed missed is thus corrected within repair_interval;
//   - deferred pins: the pins that found the tracker queue full (from the
//     feed or a repair) are tracked, newest first, as soon as it has room;
//   - full passes: a first start queues the whole pinset at the pace of
//     pinning (it waits while the tracker holds pin_queue_limit pins); a
//     feed that lost events (read more than event_retention late) gets a
//     full repair, which leaves the pins it cannot queue at once to the
//     deferred set;
//   - redo: every WriterTimeout/2, writers that died between the two
//     halves of a change are completed (see redo);
//   - census: the repairs count the pins of each slice they read; once
//     every slice is counted, their sum is upstream's ipfscluster_pins
//     gauge.
type upkeep struct {
	self  peer.ID
	cfg   upkeepSettings
	store upkeepStore
	apply *applier
	calls peerCalls
	rd    *redo // nil: no redo (tests)
	// firstStart: this peer never read the feed; its pinset is queued
	// by a paced full pass.
	firstStart bool
	// feedSwept, when set, is closed once the feed has read the changes
	// made just before this start; a first start's pass waits for it.
	feedSwept <-chan struct{}
	metrics   repairMetrics // noMetrics unless set

	slice      int
	lastExpiry time.Time
	// full receives the reason of a full repair to run.
	full chan string
	wg   sync.WaitGroup

	// recovering is set while a recover pass of the tracker's errors
	// runs.
	recovering atomic.Bool

	// census counts the pins of each slice of the pinset when a repair
	// reads it: their sum is upstream's ipfscluster_pins gauge, which a
	// full listing would otherwise be needed for.
	censusMu sync.Mutex
	census   map[int]int64
}

func newUpkeep(self peer.ID, cfg upkeepSettings, store upkeepStore, a *applier, calls peerCalls, rd *redo) *upkeep {
	return &upkeep{
		self:       self,
		cfg:        cfg,
		store:      store,
		apply:      a,
		calls:      calls,
		rd:         rd,
		lastExpiry: time.Now().Add(-cfg.retention),
		full:       make(chan string, 1),
		census:     map[int]int64{},
		metrics:    noMetrics{},
	}
}

// requestFull asks for a full repair; it does not block.
func (u *upkeep) requestFull(why string) {
	select {
	case u.full <- why:
	default:
	}
}

// takeFull returns the reason of a full repair asked for and not run.
func (u *upkeep) takeFull() (string, bool) {
	select {
	case why := <-u.full:
		return why, true
	default:
		return "", false
	}
}

// run does the periodic work until ctx ends; the goroutines it starts end
// before it returns.
func (u *upkeep) run(ctx context.Context) {
	defer u.wg.Wait()
	u.wg.Add(2)
	go func() { defer u.wg.Done(); u.drain(ctx) }()
	go func() { defer u.wg.Done(); u.repairLoop(ctx) }()
	expiry := time.NewTicker(u.cfg.stateSyncInterval)
	defer expiry.Stop()
	recoverT := time.NewTicker(u.cfg.recoverInterval)
	defer recoverT.Stop()
	redoT := time.NewTicker(scyllastate.WriterTimeout / 2)
	defer redoT.Stop()
	u.expire(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			u.expire(ctx)
		case <-recoverT.C:
			u.startRecoverErrors(ctx)
		case <-redoT.C:
			if u.rd == nil {
				continue
			}
			if err := u.rd.others(ctx); err != nil && ctx.Err() == nil {
				logger.Warnf("completing the writes of dead writers: %s", err)
			}
		}
	}
}

// drainEvery is how often the deferred pins are offered to the tracker
// when nothing new is deferred.
const drainEvery = 500 * time.Millisecond

// drain tracks the deferred pins as soon as the tracker has room, until
// ctx ends.
func (u *upkeep) drain(ctx context.Context) {
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	failures := 0
	for {
		_, err := u.apply.drainDeferred(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			if failures == 1 || failures%100 == 0 {
				logger.Warnf("tracking the deferred pins (%d waiting): %s", u.apply.deferred.len(), err)
			}
		case err == nil:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-u.apply.deferred.wake:
		case <-t.C:
		}
	}
}

// repairLoop repairs one slice of the pinset every
// repair_interval/recover_slices, and runs the full passes asked for,
// until ctx ends.
func (u *upkeep) repairLoop(ctx context.Context) {
	if u.firstStart {
		u.overflowPass(ctx, paced, "first start of this peer")
	}
	pace := &repairPace{every: u.sliceEvery(), rate: u.cfg.readRate, timeout: u.cfg.timeout,
		peers: func(ctx context.Context) (int, error) {
			ps, err := u.calls.TrustedPeers(ctx)
			return len(ps), err
		}}
	t := time.NewTimer(pace.every)
	defer t.Stop()
	over := time.NewTicker(overflowCheck)
	defer over.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case why := <-u.full:
			_ = u.fullPass(ctx, deferring, why)
		case <-over.C:
			if n, ok := u.apply.overflow.due(time.Now(), u.cfg.overlap); ok {
				why := fmt.Sprintf("about %d pins found the tracker queue and the deferred set full", n)
				if n == 0 {
					why = "the changes of a burst just before this peer's first start, left unread by its feed"
				}
				u.overflowPass(ctx, overflowed, why)
			}
		case <-t.C:
			slice := u.slice
			u.slice = (u.slice + 1) % u.cfg.slices
			r, err := u.repairSlice(ctx, slice, periodic)
			if err != nil && ctx.Err() == nil {
				logger.Warnf("repair of pinset slice %d/%d: %s", slice, u.cfg.slices, err)
			} else if r.changed() {
				logger.Infof("repair of pinset slice %d/%d: %s", slice, u.cfg.slices, r)
			}
			// The wait counts from the end of the repair: the peer's
			// share of repair_read_rate (see repairPace).
			t.Reset(pace.after(ctx, r.pins+r.markers))
		}
	}
}

// overflowCheck is how often the repair loop looks for pins left to a
// recover pass (see overflow).
const overflowCheck = time.Second

// overflowPass runs a full pass in mode (paced or overflowed) that
// covers the pins kept nowhere (see overflow): it starts once the
// tracker has room and, for at most 2 × feed_overlap, once those pins'
// rows are settled, so that one pass covers a whole burst (a first start
// just after a large import, which the feed may leave unread: see
// feed.firstRead); the overflows it does not cover get a pass of their
// own.
func (u *upkeep) overflowPass(ctx context.Context, mode repairMode, why string) {
	if mode == paced && u.feedSwept != nil {
		// A first start: the feed's first sweep reads the changes of the
		// last 2 × feed_overlap at once; a burst among them overflows
		// before the pass begins, not during it. Not longer than that,
		// should the database fail.
		t := time.NewTimer(2 * u.cfg.overlap)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-u.feedSwept:
		case <-t.C:
		}
		t.Stop()
	}
	if err := u.waitForRoom(ctx); err != nil {
		return
	}
	if at := u.apply.overflow.settledAt(u.cfg.overlap); !at.IsZero() {
		// At most W after a pin kept nowhere; 2W after a first read
		// that left a burst unread (its last change visible W later).
		wait := min(time.Until(at), 2*u.cfg.overlap)
		if wait > 0 {
			logger.Infof("recover pass over the whole pinset (%s): starts in %s, when the rows of the pins left to it are written", why, wait.Round(time.Second))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
	start := time.Now()
	if err := u.fullPass(ctx, mode, why); err == nil {
		u.apply.overflow.covered(start, u.cfg.overlap)
	}
}

// sliceEvery is the time between two slice repairs.
func (u *upkeep) sliceEvery() time.Duration {
	return max(u.cfg.repairInterval/time.Duration(u.cfg.slices), time.Millisecond)
}

// repairMode tells how a repair treats a pin IPFS lacks when the tracker
// queue is full, and whether it asks IPFS about pins.
type repairMode int

const (
	// periodic: the slice repairs. Pins IPFS lacks are tracked, or
	// deferred while the deferred set holds fewer than pin_queue_limit
	// pins (the others are found again by the next cycle).
	periodic repairMode = iota
	// deferring: a full repair (a feed that lost events). Pins IPFS
	// lacks are tracked, or deferred: it never waits for the tracker.
	deferring
	// paced: a first start. IPFS is not asked about pins (the peer has
	// none yet): every pin this peer should hold is tracked, waiting
	// while the tracker queue is full and deferred pins wait.
	paced
	// overflowed: a pass for the pins kept nowhere (see overflow). As
	// paced, but a pin IPFS holds is left alone, one IPFS does not
	// answer about is tracked, and it reads at most repair_read_rate
	// pins a second.
	overflowed
)

// repairResult counts what a repair did.
type repairResult struct {
	pins, markers           int64 // entries read
	tracked, deferred, left int64
	untracked               int64
}

func (r repairResult) changed() bool {
	return r.tracked+r.deferred+r.left+r.untracked > 0
}

func (r repairResult) String() string {
	s := fmt.Sprintf("%d pins and %d unpin markers read: %d pins queued, %d deferred (tracker queue full), %d unpinned",
		r.pins, r.markers, r.tracked, r.deferred, r.untracked)
	if r.left > 0 {
		s += fmt.Sprintf(", %d left to the next cycle (tracker queue full)", r.left)
	}
	return s
}

func (r *repairResult) add(o repairResult) {
	r.pins += o.pins
	r.markers += o.markers
	r.tracked += o.tracked
	r.deferred += o.deferred
	r.left += o.left
	r.untracked += o.untracked
}

// fullPass repairs every slice of the pinset, logging its progress. A
// slice that fails is tried again (with a growing wait) until ctx ends.
func (u *upkeep) fullPass(ctx context.Context, mode repairMode, why string) error {
	start := time.Now()
	what := "repair of the whole pinset"
	if mode == paced || mode == overflowed {
		what = "recover pass over the whole pinset"
	}
	logger.Infof("%s (%s)", what, why)
	var total repairResult
	lastLog := time.Now()
	for i := 0; i < u.cfg.slices; i++ {
		var read int64
		for failures := 0; ; failures++ {
			r, err := u.repairSlice(ctx, i, mode)
			total.add(r)
			read += r.pins + r.markers
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s stopped at slice %d/%d: %w (last error: %v)", what, i, u.cfg.slices, ctx.Err(), err)
			}
			wait := min(time.Second<<min(failures, 5), 30*time.Second)
			logger.Warnf("%s: slice %d/%d: %s; trying again in %s", what, i, u.cfg.slices, err, wait)
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s stopped at slice %d/%d: %w (last error: %v)", what, i, u.cfg.slices, ctx.Err(), err)
			case <-time.After(wait):
			}
		}
		if time.Since(lastLog) > 10*time.Second {
			logger.Infof("%s: %d/%d slices done: %s", what, i+1, u.cfg.slices, total)
			lastLog = time.Now()
		}
		if mode == overflowed && u.cfg.readRate > 0 && i+1 < u.cfg.slices {
			// Most of what it reads IPFS holds: it would read the pinset
			// and ask IPFS as fast as they answer. One peer's pass reads
			// at most repair_read_rate pins a second (what the periodic
			// repairs of the whole cluster read).
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s stopped at slice %d/%d: %w", what, i+1, u.cfg.slices, ctx.Err())
			case <-time.After(time.Duration(float64(read) / float64(u.cfg.readRate) * float64(time.Second))):
			}
		}
	}
	logger.Infof("%s done in %s: %s", what, time.Since(start).Round(time.Second), total)
	return nil
}

// repairSlice checks slice i of the pinset against this peer's IPFS: a
// pin it should hold and IPFS lacks is tracked (its row read again just
// before, through the applier's claims: a change the applier saw newer
// wins), an unpin marker whose CID IPFS holds is untracked likewise. See
// repairMode for a full tracker queue.
func (u *upkeep) repairSlice(ctx context.Context, i int, mode repairMode) (repairResult, error) {
	var pins, markers, tracked, deferred, left, untracked, ipfsErrors atomic.Int64
	err := u.store.ScanSlice(ctx, i, u.cfg.slices, func(e scyllastate.SliceEntry) error {
		if e.Pin == nil {
			markers.Add(1)
			held, known, err := u.checkIPFS(ctx, api.PinCid(e.Cid), true, mode, &ipfsErrors)
			if err != nil || !known || !held {
				return err
			}
			ok, err := u.repairUnpin(ctx, e.Cid, e.WriteTime)
			if err != nil {
				return err
			}
			if ok {
				untracked.Add(1)
				u.metrics.repaired(scyllastate.OpUnpin)
			}
			return nil
		}
		pins.Add(1)
		pin := *e.Pin
		if pin.Type == api.MetaType || pin.IsRemotePin(u.self) {
			return nil
		}
		if mode != paced {
			held, known, err := u.checkIPFS(ctx, pin, false, mode, &ipfsErrors)
			if err != nil || held || (!known && mode != overflowed) {
				return err
			}
		}
		switch {
		case mode == paced || mode == overflowed:
			if err := u.waitForRoom(ctx); err != nil {
				return err
			}
		case !u.apply.queueFull(ctx):
		case mode == periodic && int64(u.apply.deferred.len()) >= int64(u.cfg.queueLimit):
			left.Add(1)
			return nil
		default:
			u.apply.deferPin(e.Cid, e.WriteTime)
			deferred.Add(1)
			return nil
		}
		ok, err := u.repairPin(ctx, e.Cid)
		if err != nil {
			return err
		}
		if ok {
			tracked.Add(1)
			u.metrics.repaired(scyllastate.OpPin)
		}
		return nil
	})
	r := repairResult{
		pins: pins.Load(), markers: markers.Load(), tracked: tracked.Load(),
		deferred: deferred.Load(), left: left.Load(), untracked: untracked.Load(),
	}
	if err != nil {
		return r, fmt.Errorf("repairing pinset slice %d/%d: %w", i, u.cfg.slices, err)
	}
	u.count(i, r.pins)
	return r, nil
}

// holds tells whether this peer's IPFS holds a pin; a marker's CID
// (anyMode) is held when pinned recursively or directly.
func (u *upkeep) holds(ctx context.Context, pin api.Pin, anyMode bool) (bool, error) {
	ask := func(p api.Pin) (bool, error) {
		cctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
		defer cancel()
		st, err := u.calls.PinLsCid(cctx, p)
		if err != nil {
			return false, fmt.Errorf("asking IPFS about %s: %w", p.Cid, err)
		}
		return st.IsPinned(p.MaxDepth), nil
	}
	if ok, err := ask(pin); ok || err != nil || !anyMode {
		return ok, err
	}
	direct := pin
	direct.MaxDepth = 0
	return ask(direct)
}

// checkIPFS is holds for a repair in mode. When IPFS does not answer, a
// periodic repair changes nothing on a guess (known false: the next cycle
// checks again), a full repair fails the slice, tried again.
func (u *upkeep) checkIPFS(ctx context.Context, pin api.Pin, anyMode bool, mode repairMode, failures *atomic.Int64) (held, known bool, err error) {
	held, err = u.holds(ctx, pin, anyMode)
	switch {
	case err == nil:
		return held, true, nil
	case mode == deferring:
		return false, false, err
	}
	if failures.Add(1) == 1 {
		logger.Warnf("repair: %s (the CIDs IPFS does not answer about are checked again at the next cycle)", err)
	}
	return false, false, nil
}

// repairPin tracks the pin of c as its row holds it now, unless it is
// unpinned or the applier saw a newer change. It reports whether the
// tracker was told (or the pin deferred).
func (u *upkeep) repairPin(ctx context.Context, c api.Cid) (bool, error) {
	rv, err := u.readRow(ctx, c)
	if err != nil || !rv.Found {
		return false, err
	}
	return u.apply.repair(ctx, c, rv.WriteTime, &rv.Pin)
}

// repairUnpin untracks c, whose unpin at ts IPFS missed, unless its row
// holds a pin again or the applier saw a newer change.
func (u *upkeep) repairUnpin(ctx context.Context, c api.Cid, ts int64) (bool, error) {
	rv, err := u.readRow(ctx, c)
	if err != nil || rv.Found {
		return false, err
	}
	return u.apply.repair(ctx, c, max(ts, rv.UnpinTime), nil)
}

func (u *upkeep) readRow(ctx context.Context, c api.Cid) (scyllastate.RowVersion, error) {
	rctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
	defer cancel()
	rv, err := u.store.ReadVersion(rctx, c)
	if err != nil {
		return rv, fmt.Errorf("reading the row of %s: %w", c, err)
	}
	return rv, nil
}

// expire unpins the expired pins this peer is closest to. An entry whose
// pin cannot be read or unpinned is kept and the next check starts from
// it, so that it is tried again.
func (u *upkeep) expire(ctx context.Context) {
	now := time.Now()
	pctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
	trusted, err := u.calls.TrustedPeers(pctx)
	cancel()
	if err != nil {
		logger.Warnf("expiry check: listing peers: %s", err)
		return
	}
	n := 0
	var retry time.Time // the earliest entry to try again
	failed := func(e scyllastate.ExpiryEntry) {
		if retry.IsZero() || e.ExpireAt.Before(retry) {
			retry = e.ExpireAt
		}
	}
	err = u.store.Expired(ctx, u.lastExpiry, now, func(e scyllastate.ExpiryEntry) error {
		if !closest(u.self, trusted, e.Cid) {
			return nil
		}
		gctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
		pin, err := u.store.Get(gctx, e.Cid)
		cancel()
		switch {
		case err != nil && !errors.Is(err, state.ErrNotFound):
			logger.Warnf("expiry check: reading %s: %s (tried again at the next check)", e.Cid, err)
			failed(e)
			return nil
		case err == nil && !pin.ExpireAt.IsZero() && !pin.ExpireAt.After(now):
			logger.Infof("unpinning %s: pin expired at %s", e.Cid, pin.ExpireAt)
			uctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
			err := u.calls.Unpin(uctx, pin)
			cancel()
			if err != nil {
				logger.Errorf("unpinning expired %s: %s (tried again at the next check)", e.Cid, err)
				failed(e)
				return nil
			}
			n++
		case err == nil && pin.ExpireAt.After(now):
			return nil // pinned again with a later expiry: its own entry is due later
		}
		// Unpinned, expired and handled, or pinned again without expiry.
		fctx, cancel := context.WithTimeout(ctx, u.cfg.timeout)
		defer cancel()
		return u.store.ForgetExpiry(fctx, e)
	})
	if err != nil {
		logger.Warnf("expiry check: %s", err)
		return
	}
	// Entries of the last interval stay due until handled: keep one
	// interval of overlap, and never pass an entry to try again.
	next := now.Add(-u.cfg.stateSyncInterval)
	if !retry.IsZero() && retry.Before(next) {
		next = maxTime(retry, now.Add(-u.cfg.retention))
	}
	if next.After(u.lastExpiry) {
		u.lastExpiry = next
	}
	if n > 0 {
		logger.Infof("expiry check: %d expired pins unpinned", n)
	}
}

// closest tells whether self is, among the trusted peers, the closest to
// a CID (XOR of SHA-256 hashes), so that one peer acts on it.
func closest(self peer.ID, trusted []peer.ID, c api.Cid) bool {
	target := sha256.Sum256(c.Bytes())
	dist := func(p peer.ID) [32]byte {
		h := sha256.Sum256([]byte(p))
		for i := range h {
			h[i] ^= target[i]
		}
		return h
	}
	mine := dist(self)
	for _, p := range trusted {
		if p == self {
			continue
		}
		d := dist(p)
		if bytes.Compare(d[:], mine[:]) < 0 {
			return false
		}
	}
	return true
}

// startRecoverErrors starts a recover pass of the tracker's errors,
// unless one still runs: a pass over many errors waits for the tracker
// queue and may outlast pin_recover_interval.
func (u *upkeep) startRecoverErrors(ctx context.Context) {
	if !u.recovering.CompareAndSwap(false, true) {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.recovering.Store(false)
		u.recoverErrors(ctx)
	}()
}

// recoverErrors asks the tracker to retry its failed operations. The
// tracker wrapper reads them from the database (this peer's rows of
// tracker_errors), streaming, and waits for room in the tracker queue:
// no pinset scan, and memory does not grow with the errors.
func (u *upkeep) recoverErrors(ctx context.Context) {
	start := time.Now()
	n, err := u.calls.RecoverErrors(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		logger.Warnf("recovering the tracker's errors (%d retried): %s", n, err)
	case n > 0:
		logger.Infof("recover: %d failed operations retried in %s", n, time.Since(start).Round(time.Second))
	}
}

// count records the pins of a slice and, once every slice is counted,
// the pinset's size.
func (u *upkeep) count(slice int, n int64) {
	u.censusMu.Lock()
	defer u.censusMu.Unlock()
	u.census[slice] = n
	if len(u.census) < u.cfg.slices {
		return
	}
	var total int64
	for _, c := range u.census {
		total += c
	}
	stats.Record(context.Background(), observations.Pins.M(total))
}

// waitForRoom waits while the tracker holds pin_queue_limit pins or
// deferred pins (newer, tracked first) are ready.
func (u *upkeep) waitForRoom(ctx context.Context) error {
	for u.apply.deferred.ready() > 0 || u.apply.queueFull(ctx) {
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}
