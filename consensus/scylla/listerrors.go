package scylla

import (
	"context"
	"sync"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

// Upstream's stateless tracker lists the shared pinset for a status of
// every pin (StatusAll) but only logs an error of that listing: a
// database that fails would make the status look like an empty (or
// partial) pinset. The tracker wrapper therefore gives each of its
// StatusAll calls a listFailures in its context; the state that
// Consensus.State hands out for that context records the errors of its
// List there, and the wrapper returns them once upstream's StatusAll
// has returned. Each call has its own: the failure of one call never
// shows in another.

// listFailures records the first error of the pinset listings made for
// one call.
type listFailures struct {
	mu  sync.Mutex
	err error
}

type listFailuresKey struct{}

// withListFailures returns a context whose pinset listings (through
// recordListFailures) record their errors in the returned listFailures.
func withListFailures(ctx context.Context) (context.Context, *listFailures) {
	f := &listFailures{}
	return context.WithValue(ctx, listFailuresKey{}, f), f
}

func (f *listFailures) record(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// failed is the first error recorded, or nil.
func (f *listFailures) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// recordListFailures returns st, whose List records its error in the
// listFailures of ctx, if it has one (see withListFailures).
func recordListFailures(ctx context.Context, st state.ReadOnly) state.ReadOnly {
	f, ok := ctx.Value(listFailuresKey{}).(*listFailures)
	if !ok {
		return st
	}
	return &recordingState{ReadOnly: st, failures: f}
}

// recordingState is a state whose List records its error.
type recordingState struct {
	state.ReadOnly
	failures *listFailures
}

// List lists the pinset into out and closes it, having recorded the
// error of the listing first: whoever reads out until it is closed then
// finds the error recorded.
func (s *recordingState) List(ctx context.Context, out chan<- api.Pin) error {
	defer close(out)
	pins := make(chan api.Pin, cap(out))
	errc := make(chan error, 1)
	go func() { errc <- s.ReadOnly.List(ctx, pins) }()
	stopped := false
	for p := range pins {
		if stopped {
			continue // drain: the listing ends on ctx
		}
		select {
		case out <- p:
		case <-ctx.Done():
			stopped = true
		}
	}
	err := <-errc
	if err != nil {
		s.failures.record(err)
	}
	return err
}
