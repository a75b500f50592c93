package seams

import "sync/atomic"

// AfterEventsFunc is called, with the writer's ID, after the events of
// each group of changes a store writes and before their rows are.
type AfterEventsFunc func(writer string)

var afterEvents atomic.Pointer[AfterEventsFunc]

// SetAfterEvents installs f, called between the two writes of every
// group of changes of the stores of this process (nil removes it). It is
// for fault-injection tests only (a process killed between the two
// writes); production code never calls it. It returns a func that
// restores the previous one.
func SetAfterEvents(f AfterEventsFunc) (restore func()) {
	prev := afterEvents.Swap(&f)
	return func() { afterEvents.Store(prev) }
}

// AfterEvents calls the func installed with SetAfterEvents, if any: the
// stores call it between the events and the rows of a group of changes.
// It does nothing in production.
func AfterEvents(writer string) {
	if p := afterEvents.Load(); p != nil && *p != nil {
		(*p)(writer)
	}
}
