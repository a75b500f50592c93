package scylla

import (
	"sync"
	"time"
)

// overflow remembers that pins found both the tracker queue
// (pin_queue_limit) and the deferred set full, and were kept nowhere: a
// burst of changes larger than the peer can hold (an import of millions
// of pins, or a first start just after one) costs the peer no memory
// beyond those two bounds. Such a pin keeps its claim (the applier knows
// the change) and is tracked by a recover pass over the whole pinset,
// which reads its row again, as a first start does (see
// upkeep.overflowPass).
//
// The pass must read the row after the change's writer wrote it: the
// writer writes the row after its event, within feed_overlap (settle).
// So a pass covers the overflows noted up to settle before it started to
// read; the times are this peer's clock only (when its feed saw the
// change), never a writer's timestamp.
type overflow struct {
	mu sync.Mutex
	// oldest and newest bound the times of the overflows no pass has
	// covered yet; zero: none.
	oldest, newest time.Time
	// count is the number of overflows since the last pass covered them
	// all; total is the number since start.
	count, total int64
}

// note records a pin kept nowhere, at time now. It returns true for the
// first one since the last pass covered them all.
func (o *overflow) note(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	first := o.oldest.IsZero()
	if first {
		o.oldest = now
	}
	o.newest = now
	o.count++
	o.total++
	return first
}

// unread records that changes the feed will never read were left to a
// recover pass: the last of them is visible by seenBy, which may be
// later than now (see feed.skipBurst). Pins are not counted.
func (o *overflow) unread(seenBy time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oldest.IsZero() || seenBy.Before(o.oldest) {
		o.oldest = seenBy
	}
	if seenBy.After(o.newest) {
		o.newest = seenBy
	}
}

// due tells whether a pass is needed and may start at now: the oldest
// uncovered overflow is settle old. It returns the number of overflows
// waiting for a pass.
func (o *overflow) due(now time.Time, settle time.Duration) (int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count, !o.oldest.IsZero() && !now.Before(o.oldest.Add(settle))
}

// settledAt is when the newest uncovered overflow is settle old (zero:
// none waits).
func (o *overflow) settledAt(settle time.Duration) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.newest.IsZero() {
		return time.Time{}
	}
	return o.newest.Add(settle)
}

// covered records a pass over the whole pinset that started to read at
// start: the overflows noted up to settle before it are covered. The
// later ones wait for the next pass, which may start once they are all
// settle old (their times are not kept: the newest stands for them).
func (o *overflow) covered(start time.Time, settle time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	limit := start.Add(-settle)
	switch {
	case o.newest.IsZero():
	case !o.newest.After(limit):
		o.oldest, o.newest, o.count = time.Time{}, time.Time{}, 0
	case !o.oldest.After(limit):
		o.oldest = o.newest
	}
}

// totalCount is the number of overflows since start.
func (o *overflow) totalCount() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total
}
