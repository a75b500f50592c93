package scylla

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"go.opencensus.io/stats"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The repair (anti-entropy) of upkeep: a slice of the pinset every
// repair_interval/recover_slices, and the full passes (first start,
// overflow) that track what the feed could not.

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
