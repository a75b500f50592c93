package scyllastate

import (
	"context"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

const (
	// HeartbeatInterval is how often a writer records that it is alive
	// and up to when its writes are complete.
	HeartbeatInterval = 10 * time.Second
	// WriterTimeout is how long a writer may stay silent before other
	// peers take it for dead and complete its unfinished writes.
	WriterTimeout = 6 * HeartbeatInterval
	// repairInterval is how often a writer retries the rows of changes
	// whose event was written but whose row was not.
	repairInterval = 2 * time.Second
	// groupFlushers is the number of groups a store writes at once for
	// single Add and Rm calls; calls that arrive meanwhile form the next
	// group.
	groupFlushers = 2
	// maxGroup bounds the changes of one group.
	maxGroup = 64
)

// writer is the writing side of a store: it assigns write timestamps and
// event IDs, groups concurrent single changes, keeps the time before which
// all its writes are complete (the safe point), records it with a
// heartbeat, and retries the rows of changes whose event was written but
// whose row write failed.
type writer struct {
	s  *ScyllaState
	id string
	dc string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	lastTS   int64
	inflight map[*pendingWrite]int64 // write -> ts
	repairs  []*pendingWrite         // event written, row not yet
	started  bool                    // heartbeat running

	groupMu  sync.Mutex
	queue    []groupItem
	flushing int
	closed   bool
}

type groupItem struct {
	w    *pendingWrite
	done chan error
}

func newWriter(s *ScyllaState, id, dc string) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	return &writer{s: s, id: id, dc: dc, ctx: ctx, cancel: cancel, inflight: map[*pendingWrite]int64{}}
}

// stamp gives a write its timestamp (microseconds, strictly increasing
// for this writer) and its event ID.
func (wr *writer) stamp(w *pendingWrite, now time.Time) {
	ts := now.UnixMicro()
	if ts <= wr.lastTS {
		ts = wr.lastTS + 1
	}
	wr.lastTS = ts
	w.ts = ts
	w.eventID = gocql.UUIDFromTime(time.UnixMicro(ts))
	w.eventDone = false
	w.err = nil
}

// begin stamps writes and records them as in flight. The first write
// starts the heartbeat.
func (wr *writer) begin(ws []*pendingWrite) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	now := time.Now()
	for _, w := range ws {
		wr.stamp(w, now)
		wr.inflight[w] = w.ts
	}
	if !wr.started && wr.ctx.Err() == nil {
		wr.started = true
		wr.wg.Add(1)
		go wr.run()
	}
}

// end records writes as done. A change whose event was written but whose
// row failed stays unsafe and is retried in the background: its event is
// in the feed, so the change happened.
func (wr *writer) end(ws []*pendingWrite) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for _, w := range ws {
		delete(wr.inflight, w)
		if w.err != nil && w.eventDone {
			wr.repairs = append(wr.repairs, w)
		}
	}
}

// safeBefore is the time before which every write of this writer is
// complete: the oldest write in flight or waiting for repair, else now.
func (wr *writer) safeBefore() time.Time {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	oldest := time.Now().UnixMicro()
	for _, ts := range wr.inflight {
		oldest = min(oldest, ts)
	}
	for _, w := range wr.repairs {
		oldest = min(oldest, w.ts)
	}
	return time.UnixMicro(oldest)
}

// run beats and repairs until the store closes.
func (wr *writer) run() {
	defer wr.wg.Done()
	wr.beat(false)
	beat := time.NewTicker(HeartbeatInterval)
	defer beat.Stop()
	repair := time.NewTicker(repairInterval)
	defer repair.Stop()
	for {
		select {
		case <-wr.ctx.Done():
			return
		case <-beat.C:
			wr.beat(false)
		case <-repair.C:
			wr.repair(wr.ctx)
		}
	}
}

// beat records the heartbeat and safe point. closed marks a clean stop:
// nothing of this writer is left to complete.
func (wr *writer) beat(closed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), wr.s.cfg.Timeout)
	defer cancel()
	ttl := int64(wr.s.cfg.EventRetention / time.Second)
	err := wr.s.session.Query(wr.s.stmts.heartbeat, ttl, time.Now(), wr.safeBefore(), closed, wr.dc, wr.id).
		WithContext(ctx).Exec()
	wr.s.health.record(err)
	if err != nil {
		logger.Warnf("recording the heartbeat of writer %s: %s", wr.id, err)
	}
}

// repair retries the rows of changes whose event is written.
func (wr *writer) repair(ctx context.Context) {
	wr.mu.Lock()
	todo := wr.repairs
	wr.repairs = nil
	wr.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	var rows []stmt
	for _, w := range todo {
		w.err = nil
		rows = append(rows, wr.s.rowStmts(w)...)
	}
	wr.s.runBatches(ctx, chunk(rows), "repairing pin rows", wr.s.cons, nil)
	var left []*pendingWrite
	for _, w := range todo {
		if w.err != nil {
			left = append(left, w)
		}
	}
	if len(left) > 0 {
		logger.Warnf("%d pin rows whose change is in the feed are still not written; retrying in %s: %s",
			len(left), repairInterval, left[0].err)
	} else {
		logger.Infof("%d pin rows whose change is in the feed written on retry", len(todo))
	}
	wr.mu.Lock()
	wr.repairs = append(wr.repairs, left...)
	wr.mu.Unlock()
}

// do writes one change, in a group with the changes of concurrent calls:
// while groupFlushers groups are being written, new changes wait and
// form the next group, so that a busy peer makes few large requests and
// an idle one adds no delay.
func (wr *writer) do(ctx context.Context, w *pendingWrite) error {
	item := groupItem{w: w, done: make(chan error, 1)}
	wr.groupMu.Lock()
	if wr.closed {
		wr.groupMu.Unlock()
		return ErrClosed
	}
	wr.queue = append(wr.queue, item)
	start := wr.flushing < groupFlushers
	if start {
		wr.flushing++
		wr.wg.Add(1)
	}
	wr.groupMu.Unlock()
	if start {
		go wr.flush()
	}
	select {
	case err := <-item.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (wr *writer) flush() {
	defer wr.wg.Done()
	for {
		wr.groupMu.Lock()
		n := min(len(wr.queue), maxGroup)
		if n == 0 {
			wr.flushing--
			wr.groupMu.Unlock()
			return
		}
		group := append([]groupItem(nil), wr.queue[:n]...)
		wr.queue = wr.queue[n:]
		wr.groupMu.Unlock()

		ws := make([]*pendingWrite, len(group))
		for i, it := range group {
			ws[i] = it.w
		}
		// The group outlives any one caller: statements are bounded by
		// the driver's timeout and retries.
		wr.s.commit(context.Background(), ws)
		for _, it := range group {
			it.done <- it.w.err
		}
	}
}

// close waits for the groups in flight, retries pending rows once and
// records the final heartbeat: closed when nothing is left unfinished.
func (wr *writer) close() {
	wr.groupMu.Lock()
	wr.closed = true
	wr.groupMu.Unlock()
	wr.mu.Lock() // no heartbeat starts after this
	wr.cancel()
	wr.mu.Unlock()
	wr.wg.Wait()
	wr.mu.Lock()
	started := wr.started
	wr.mu.Unlock()
	if !started {
		return
	}
	wr.repair(context.Background())
	wr.mu.Lock()
	clean := len(wr.repairs) == 0
	wr.mu.Unlock()
	if !clean {
		logger.Errorf("closing with pin rows not written although their change is in the feed: another peer will complete them")
	}
	wr.beat(clean)
}
