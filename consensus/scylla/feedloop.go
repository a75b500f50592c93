package scylla

import (
	"context"
	"sync"
	"time"
)

// run reads the feed until ctx ends: sweeps every W in a loop of their
// own (sweepLoop), and fresh reads when woken up (a hint), at once or
// at the end of wakeGap after the previous read, else every pollInterval
// while it finds changes; reads that find none back off to idlePolls
// times pollInterval (at most half of the overlap), so that an idle peer
// costs the database little. Hints keep a busy cluster at full speed,
// and wakeGap bounds what they cost: however many peers send them, a
// peer reads at most once per gap.
func (f *feed) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); f.sweepLoop(ctx) }()
	maxInterval := min(idlePolls*f.cfg.pollInterval, max(f.cfg.overlap/2, f.cfg.pollInterval))
	gap := min(wakeGap, f.cfg.pollInterval)
	interval := f.cfg.pollInterval
	t := time.NewTimer(interval)
	defer t.Stop()
	var last time.Time // when the last read started
	failures := failureLog{what: "reading the change feed"}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.wake:
			interval = f.cfg.pollInterval
			if wait := gap - time.Since(last); wait > 0 {
				// Woken within the gap: read at its end, once for
				// every hint that comes until then.
				resetTimer(t, wait)
				continue
			}
		}
		last = time.Now()
		found, err := f.step(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			failures.failed(err)
			interval = f.cfg.pollInterval
		case found > 0:
			interval = f.cfg.pollInterval
		default:
			interval = min(2*interval, maxInterval)
		}
		if err == nil {
			failures.worked()
		}
		resetTimer(t, interval)
	}
}

// resetTimer makes t fire after d, whether or not it has fired.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// idlePolls bounds the back-off of reads that find nothing.
const idlePolls = 10

// wakeGap is the shortest time between two reads of a peer that hints
// wake up (at most poll_interval). Every peer that adds pins sends hints
// (one per hintGap at most), and every peer reads on them: without a gap,
// busy peers would make every peer read back to back, and the database's
// load would grow with the number of peers times the hints each receives.
// With it, a peer reads at most 1/wakeGap times a second, and a change
// waits at most wakeGap longer.
const wakeGap = 200 * time.Millisecond

// sweepLoop sweeps every W (feed_overlap) until ctx ends, beside the
// fresh reads: a sweep that takes long (a burst of changes to re-read,
// reads that failed for long) holds them up no longer. A sweep that
// fails is tried again every poll_interval.
func (f *feed) sweepLoop(ctx context.Context) {
	t := time.NewTimer(max(f.untilSweep(), 0))
	defer t.Stop()
	failures := failureLog{what: "re-reading the change feed"}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := f.sweepIfDue(ctx)
		next := f.untilSweep()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			failures.failed(err)
			next = f.cfg.pollInterval
		default:
			failures.worked()
		}
		t.Reset(max(next, time.Millisecond))
	}
}

// failureLog logs the failures of a loop that retries: the first one and
// every 60th, then once when it works again.
type failureLog struct {
	what string
	n    int
}

func (l *failureLog) failed(err error) {
	l.n++
	if l.n == 1 || l.n%60 == 0 {
		logger.Warnf("%s failed %d time(s), retrying: %s", l.what, l.n, err)
	}
}

func (l *failureLog) worked() {
	if l.n > 0 {
		logger.Infof("%s works again after %d failure(s)", l.what, l.n)
		l.n = 0
	}
}
