package scyllastate

import (
	"context"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
)

// How a writer commits changes: single changes gathered in groups (do),
// and each group written event first, then rows (commit).

// newWriter builds the writer of a store: it writes through d, with the
// feed layout and activity index of the store, and reads the feed (for
// reannounce) with a reader whose reads move its clock.
func newWriter(d *db, layout *layoutCache, act *activity, id, dc string) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	wr := &writer{db: d, layout: layout, activity: act, id: id, dc: dc, clock: seams.Clock(id), ctx: ctx, cancel: cancel, inflight: map[*pendingWrite]int64{}}
	wr.events = &eventReader{db: d, layout: layout, observe: wr.observe}
	wr.groups = newGrouper(groupFlushers, maxGroup, wr.writeGroup)
	return wr
}

// begin stamps writes and records them as in flight. The first write
// starts the heartbeat.
func (wr *writer) begin(ws []*pendingWrite) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for _, w := range ws {
		wr.stamp(w)
		wr.inflight[w] = w.idTime
	}
	if !wr.started && wr.ctx.Err() == nil {
		wr.started = true
		wr.wg.Add(1)
		go wr.run()
	}
}

// do writes one change, in a group with the changes of concurrent calls
// (see grouper).
func (wr *writer) do(ctx context.Context, w *pendingWrite) error {
	item := groupItem{w: w, done: make(chan error, 1)}
	if !wr.groups.submit(item) {
		return ErrClosed
	}
	select {
	case err := <-item.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeGroup commits a group of changes and answers their callers. The
// group outlives any one caller: statements are bounded by the driver's
// timeout and retries.
func (wr *writer) writeGroup(group []groupItem) {
	ws := make([]*pendingWrite, len(group))
	for i, it := range group {
		ws[i] = it.w
	}
	wr.commit(context.Background(), ws)
	for _, it := range group {
		it.done <- it.w.err
	}
}

// commit writes a group of changes: every event, then the rows of the
// changes whose event was acknowledged. It sets w.err on the changes
// that failed and returns how many did. A change whose event was sent but
// not acknowledged (a timeout: it may have been written) is not dropped:
// its error wraps ErrOutcomeUnknown and the writer keeps retrying it with
// the same timestamp until it is known (see writer.end).
func (wr *writer) commit(ctx context.Context, ws []*pendingWrite) int {
	if len(ws) == 0 {
		return 0
	}
	if err := wr.admit(); err != nil {
		for _, w := range ws {
			w.err = err
		}
		return len(ws)
	}
	wr.begin(ws)
	defer wr.end(ws)
	if err := wr.register(); err != nil {
		for _, w := range ws {
			w.err = err
		}
		return len(ws)
	}

	wr.writeEvents(ctx, ws)
	seams.AfterEvents(wr.id) // tests only: see seams.SetAfterEvents

	// Rows of the changes whose event is in the feed.
	var done []*pendingWrite
	for _, w := range ws {
		if w.eventDone {
			done = append(done, w)
		}
	}
	wr.writeRows(ctx, done, "writing pin rows")

	failed := 0
	for _, w := range ws {
		if w.err != nil {
			failed++
		}
	}
	return failed
}
