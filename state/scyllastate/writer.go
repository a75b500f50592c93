package scyllastate

import (
	"context"
	"fmt"
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
	groupFlushers = 1
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

	regMu      sync.Mutex
	registered bool // the first heartbeat is recorded

	// unconfirmedSince is the write timestamp of the oldest change whose
	// event is written in this data center only (see fallBackToLocal);
	// 0 when none. lastFallback is the newest such change.
	unconfirmedSince int64
	lastFallback     int64

	groups *grouper[groupItem]
}

type groupItem struct {
	w    *pendingWrite
	done chan error
}

func newWriter(s *ScyllaState, id, dc string) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	wr := &writer{s: s, id: id, dc: dc, ctx: ctx, cancel: cancel, inflight: map[*pendingWrite]int64{}}
	wr.groups = newGrouper(groupFlushers, maxGroup, wr.writeGroup)
	return wr
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

// register records the writer's first heartbeat, with a safe point
// before its first write, before any event of it is written: a writer
// that dies right after its first events is known to the other peers.
func (wr *writer) register() error {
	wr.regMu.Lock()
	defer wr.regMu.Unlock()
	if wr.registered {
		return nil
	}
	if err := wr.beat(false); err != nil {
		return fmt.Errorf("registering writer %s in the change feed: %w", wr.id, err)
	}
	wr.registered = true
	return nil
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
	if wr.unconfirmedSince != 0 {
		oldest = min(oldest, wr.unconfirmedSince)
	}
	return time.UnixMicro(oldest)
}

// unconfirmed records a change written in this data center only.
func (wr *writer) unconfirmed(ts int64) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.unconfirmedSince == 0 || ts < wr.unconfirmedSince {
		wr.unconfirmedSince = ts
	}
	wr.lastFallback = max(wr.lastFallback, ts)
}

// reannounce announces again, in every data center, the changes written
// in this data center only, once every data center can be reached.
func (wr *writer) reannounce(ctx context.Context) {
	wr.mu.Lock()
	since := wr.unconfirmedSince
	wr.mu.Unlock()
	if since == 0 {
		return
	}
	passStart := time.Now()
	var todo []Event
	err := wr.s.Events(ctx, time.UnixMicro(since), passStart, func(e Event) error {
		if e.Writer == wr.id && !e.Legacy && e.WriteTime >= since {
			todo = append(todo, e)
		}
		return nil
	})
	if err == nil {
		for _, e := range todo {
			if err = wr.s.Reannounce(ctx, e); err != nil {
				break
			}
		}
	}
	if err != nil {
		logger.Debugf("changes since %s still not announced in every data center: %s", time.UnixMicro(since).Format(time.RFC3339), err)
		return
	}
	wr.mu.Lock()
	if wr.lastFallback < passStart.UnixMicro() {
		wr.unconfirmedSince, wr.lastFallback = 0, 0
	} else {
		wr.unconfirmedSince = passStart.UnixMicro()
	}
	wr.mu.Unlock()
	logger.Infof("%d changes written in this data center only are now announced in every data center", len(todo))
}

// run beats and repairs until the store closes.
func (wr *writer) run() {
	defer wr.wg.Done()
	beat := time.NewTicker(HeartbeatInterval)
	defer beat.Stop()
	repair := time.NewTicker(repairInterval)
	defer repair.Stop()
	for {
		select {
		case <-wr.ctx.Done():
			return
		case <-beat.C:
			if err := wr.beat(false); err != nil {
				logger.Warnf("recording the heartbeat of writer %s: %s", wr.id, err)
			}
		case <-repair.C:
			wr.repair(wr.ctx)
			wr.reannounce(wr.ctx)
		}
	}
}

// beat records the heartbeat and safe point. closed marks a clean stop:
// nothing of this writer is left to complete.
func (wr *writer) beat(closed bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), wr.s.cfg.Timeout)
	defer cancel()
	ttl := int64(wr.s.cfg.EventRetention / time.Second)
	err := wr.s.session.Query(wr.s.stmts.heartbeat, ttl, time.Now(), wr.safeBefore(), closed, wr.dc, wr.id).
		WithContext(ctx).Exec()
	wr.s.health.record(err)
	return err
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
	wr.s.commit(context.Background(), ws)
	for _, it := range group {
		it.done <- it.w.err
	}
}

// close waits for the groups in flight, retries pending rows once and
// records the final heartbeat: closed when nothing is left unfinished.
func (wr *writer) close() {
	wr.groups.close()
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
	// The database may be down: bound the last attempts.
	ctx, cancel := context.WithTimeout(context.Background(), 2*wr.s.cfg.Timeout)
	defer cancel()
	wr.repair(ctx)
	wr.reannounce(ctx)
	wr.mu.Lock()
	clean := len(wr.repairs) == 0 && wr.unconfirmedSince == 0
	wr.mu.Unlock()
	if !clean {
		logger.Errorf("closing with changes not completed (pin rows not written, or events written in this data center only): another peer will complete them")
	}
	if err := wr.beat(clean); err != nil {
		logger.Warnf("recording the last heartbeat of writer %s: %s", wr.id, err)
	}
}
