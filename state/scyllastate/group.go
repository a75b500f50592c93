package scyllastate

import "sync"

// grouper gathers the items that callers submit concurrently and hands
// them to fn in groups: at most flushers groups are processed at once, each
// of at most max items; items that arrive meanwhile wait and form the next
// group. A busy store thus makes few large requests, and an idle one adds
// no delay. Every goroutine it starts has returned when close returns.
type grouper[T any] struct {
	flushers, max int
	fn            func([]T)
	// observe, when set, is told the size of every group sent.
	observe func(n int)

	mu     sync.Mutex
	queue  []T
	busy   int
	closed bool
	wg     sync.WaitGroup
}

func newGrouper[T any](flushers, max int, fn func([]T)) *grouper[T] {
	return &grouper[T]{flushers: flushers, max: max, fn: fn}
}

// submit queues an item; it returns false once the grouper is closed.
func (g *grouper[T]) submit(item T) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.queue = append(g.queue, item)
	start := g.busy < g.flushers
	if start {
		g.busy++
		g.wg.Add(1)
	}
	g.mu.Unlock()
	if start {
		go g.flush()
	}
	return true
}

func (g *grouper[T]) flush() {
	defer g.wg.Done()
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
		if n == 0 {
			g.busy--
			g.mu.Unlock()
			return
		}
		group := append([]T(nil), g.queue[:n]...)
		g.queue = g.queue[n:]
		g.mu.Unlock()
		if g.observe != nil {
			g.observe(n)
		}
		g.fn(group)
	}
}

// close refuses new items and waits for the groups in flight.
func (g *grouper[T]) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
