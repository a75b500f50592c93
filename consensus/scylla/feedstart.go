package scylla

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// catchUp applies the changes made since the saved position, then
// sweeps. It returns false when this peer has no position: it never read
// this feed (first start). A position older than event_retention is
// reported to onGap: the changes before are gone from the feed.
func (f *feed) catchUp(ctx context.Context) (bool, error) {
	f.readMu.Lock()
	defer f.readMu.Unlock()
	f.sweepMu.Lock()
	defer f.sweepMu.Unlock()
	pos, ok, err := f.store.Checkpoint(ctx, f.cfg.reader)
	if err != nil {
		return false, err
	}
	now := f.now()
	if !ok {
		// A first start: the first poll sweeps at once (lastSweep W
		// ago), so that the changes of the last 2W (a burst just before
		// this start) are seen before the first start's recover pass
		// begins, and covered by it (see upkeep.overflowPass and
		// firstRead).
		f.mu.Lock()
		f.position, f.firstPoll = now, true
		f.mu.Unlock()
		f.lastSweep, f.lastFresh = now.Add(-f.cfg.overlap), now
		f.readUpTo.Store(now.UnixNano())
		f.saveCheckpoint(ctx)
		return false, nil
	}
	start := time.Now()
	from := pos.Add(-f.cfg.overlap)
	if oldest := now.Add(-f.cfg.retention); from.Before(oldest) {
		f.gap(from, oldest)
		from = oldest
	}
	logger.Infof("catching up with the pin changes made since %s", from.Format(time.RFC3339))
	total, err := f.readSpan(ctx, from, now, balancedGroups, "catching up with the change feed")
	if err != nil {
		return true, err
	}
	f.readUpTo.Store(now.UnixNano())
	// Every event up to now was read after now: those older than now-W
	// were visible.
	f.advance(maxTime(from, now.Add(-f.cfg.overlap)))
	now = f.now()
	if err := f.sweep(ctx, now, now); err != nil {
		return true, fmt.Errorf("catching up with the change feed: %w", err)
	}
	f.lastFresh = now
	f.readUpTo.Store(now.UnixNano())
	f.saveCheckpoint(ctx)
	f.metrics.caughtUp(time.Since(start))
	logger.Infof("caught up in %s: %d changes read", time.Since(start).Round(time.Millisecond), total)
	return true, nil
}

// errBurst stops the count of a burst (see burstOver).
var errBurst = errors.New("more changes than a first read applies")

// firstRead is the first poll of a first start: a fresh read and a sweep
// of the last 2W, so that a burst of changes made just before this start
// is seen before the first start's recover pass begins, and covered by it
// (see upkeep.overflowPass). A burst larger than burstLimit changes (an
// import of millions just before this start, which every new peer would
// read at once, for pins it could hold neither in the tracker queue nor
// in the deferred set) is not read: the changes before now are left to
// the recover pass, which reads their rows once they are written, and
// the feed reads from now on (floor).
func (f *feed) firstRead(ctx context.Context) (int64, error) {
	f.readMu.Lock()
	defer f.readMu.Unlock()
	f.sweepMu.Lock()
	defer f.sweepMu.Unlock()
	if !f.isFirstPoll() {
		return 0, nil // done by another caller meanwhile
	}
	now := f.now()
	if f.cfg.burstLimit > 0 {
		over, err := f.burstOver(ctx, now.Add(-2*f.cfg.overlap), now, f.cfg.burstLimit)
		if err != nil {
			f.metrics.pollError()
			return 0, err
		}
		if over {
			f.skipBurst(now)
			f.firstDone()
			f.saveCheckpoint(ctx)
			return 0, nil
		}
	}
	found, err := f.fresh(ctx, now)
	if err == nil {
		err = f.sweep(ctx, now, now)
	}
	if err != nil {
		f.metrics.pollError()
		return found, err
	}
	f.firstDone()
	f.saveIfDue(ctx, now)
	return found, nil
}

func (f *feed) firstDone() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.firstPoll = false
}

// burstOver tells whether the feed holds more than limit events with an
// ID time in [from, to]. It reads at most limit+1 of them, and applies
// none.
func (f *feed) burstOver(ctx context.Context, from, to time.Time, limit int64) (bool, error) {
	parts, err := f.store.Partitions(ctx, from, to)
	if err != nil {
		return false, fmt.Errorf("counting the changes made just before this first start: %w", err)
	}
	lo, hi := scyllastate.MinEventID(from), scyllastate.MaxEventID(to)
	var n int64
	for _, g := range groupParts(parts, wholeBuckets) {
		err := f.store.ReadPartitions(ctx, g, func(scyllastate.Partition) scyllastate.EventID { return lo }, hi,
			func(scyllastate.Partition, scyllastate.Event) error {
				if n++; n > limit {
					return errBurst
				}
				return nil
			})
		switch {
		case errors.Is(err, errBurst):
			return true, nil
		case err != nil:
			return false, fmt.Errorf("counting the changes made just before this first start: %w", err)
		}
	}
	return false, nil
}

// skipBurst leaves the changes made before now to the first start's
// recover pass: the feed never reads them (floor), and the pass starts
// once their rows are written. Every such change is visible by now+W
// (its ID time is before now); its row is written within W after (see
// overflow), which the pass waits for as for pins kept nowhere.
func (f *feed) skipBurst(now time.Time) {
	f.mu.Lock()
	f.floor = now
	f.mu.Unlock()
	clear(f.cursors)
	f.lastFresh, f.lastSweep = now, now
	f.readUpTo.Store(now.UnixNano())
	f.apply.overflow.unread(now.Add(f.cfg.overlap))
	logger.Infof("first start just after a burst of changes: more than %d in the change feed's last %s; "+
		"the changes made before %s are left to the first start's recover pass, which reads their rows once they are written (in %s)",
		f.cfg.burstLimit, 2*f.cfg.overlap, now.Format(time.RFC3339), 2*f.cfg.overlap)
	f.sweptOnce.Do(func() { close(f.swept) })
}
