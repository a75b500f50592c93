// Package seams holds the test seams of this module: hooks that tests set
// to inject faults or skew, and that production code never sets. They live
// here, in an internal package, so that no test seam is part of the
// exported API.
package seams

import (
	"sync/atomic"
	"time"
)

// ClockFunc returns the physical clock a store's writer reads, given the
// writer's ID; nil means the system clock.
type ClockFunc func(writer string) func() time.Time

var clock atomic.Pointer[ClockFunc]

// SetClock installs f as the source of the writers' clocks for stores
// created afterwards (nil restores the system clock). It returns a func
// that restores the previous one.
func SetClock(f ClockFunc) (restore func()) {
	prev := clock.Swap(&f)
	return func() { clock.Store(prev) }
}

// Clock returns the clock of a writer: the system clock unless a test
// installed another with SetClock.
func Clock(writer string) func() time.Time {
	if p := clock.Load(); p != nil && *p != nil {
		if now := (*p)(writer); now != nil {
			return now
		}
	}
	return time.Now
}

// Offset returns a clock that runs d ahead of the system clock (behind
// when d is negative).
func Offset(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}
