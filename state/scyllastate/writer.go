package scyllastate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
)

const (
	// HeartbeatInterval is how often a writer records that it is alive
	// and up to when its writes are complete.
	HeartbeatInterval = 10 * time.Second
	// WriterTimeout is how long a writer may stay silent before other
	// peers take it for dead and complete its unfinished writes.
	WriterTimeout = 6 * HeartbeatInterval
	// repairInterval is how often a writer retries the changes of its
	// backlog (see stage).
	repairInterval = 2 * time.Second
	// groupFlushers is the number of groups a store writes at once for
	// single Add and Rm calls; calls that arrive meanwhile form the next
	// group. Two: a change waits for at most one group's events to be
	// written before its own are sent (pipelined groups), while a busy
	// store still writes many changes per request. Groups in flight
	// together are ordered by their write timestamps, not by arrival.
	groupFlushers = 2
	// maxGroup bounds the changes of one group.
	maxGroup = 64
	// maxBacklog bounds the changes of unknown outcome a writer keeps
	// retrying; beyond it new changes are refused (ErrBacklog).
	maxBacklog = 10000
	// maxClockAhead bounds how far ahead of the local clock an observed
	// write timestamp may move the hybrid logical clock; a timestamp
	// further ahead comes from a broken clock and is not followed.
	maxClockAhead = time.Hour
)

// stage is what is left to do of a change in a writer's backlog.
type stage int8

const (
	// needEvent: the event was sent and not acknowledged (outcome
	// unknown): it is written again, same ID and timestamp, until it is.
	needEvent stage = iota
	// needRow: the event is written, the row is not.
	needRow
	// needNotice: the event may have become visible after the readers'
	// sweeps passed it: a fresh event announces the change again.
	needNotice
	// finished: nothing is left to do.
	finished
)

// writer is the writing side of a store: it stamps writes with a hybrid
// logical clock and gives them event IDs, groups concurrent single
// changes, keeps the time before which all its writes are complete (the
// safe point), records it with a heartbeat, and finishes in the
// background the changes it could not finish at once (its backlog).
type writer struct {
	s  *ScyllaState
	id string
	dc string
	// clock is the physical clock (the system's; tests skew it through
	// internal/seams).
	clock func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// lastTS is the hybrid logical clock: the newest write timestamp
	// this writer gave or observed. lastID is the newest event ID time.
	lastTS, lastID int64
	inflight       map[*pendingWrite]int64 // write -> event ID time
	backlog        []*pendingWrite         // changes left to finish
	started        bool                    // heartbeat running
	warnedAhead    bool

	regMu      sync.Mutex
	registered bool // the first heartbeat is recorded

	// unconfirmedSince is the event ID time of the oldest change whose
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
	wr := &writer{s: s, id: id, dc: dc, clock: seams.Clock(id), ctx: ctx, cancel: cancel, inflight: map[*pendingWrite]int64{}}
	wr.groups = newGrouper(groupFlushers, maxGroup, wr.writeGroup)
	return wr
}

// stamp gives a write its event ID (physical time, strictly increasing
// for this writer) and its write timestamp: the hybrid logical clock,
// after the event ID and after every timestamp this writer gave or
// observed. A change made after reading a pin is thus stamped after it,
// whatever the clocks of the two writers. wr.mu is held.
func (wr *writer) stamp(w *pendingWrite) {
	w.idTime, w.eventID = wr.nextID()
	ts := max(w.idTime, wr.lastTS+1)
	wr.lastTS = ts
	w.ts = ts
	w.sent, w.eventDone, w.late, w.err = false, false, false, nil
}

// nextID returns a new event ID time and ID; wr.mu is held.
func (wr *writer) nextID() (int64, gocql.UUID) {
	id := max(wr.clock().UnixMicro(), wr.lastID+1)
	wr.lastID = id
	return id, gocql.UUIDFromTime(time.UnixMicro(id))
}

// freshID returns a new event ID for a change announced again.
func (wr *writer) freshID() (int64, gocql.UUID) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return wr.nextID()
}

// observe moves the hybrid logical clock past a write timestamp this
// store read (a pin row, an unpin marker, a feed event), so that the next
// change of this writer is stamped after it.
func (wr *writer) observe(ts int64) {
	if ts == 0 {
		return
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if ts <= wr.lastTS {
		return
	}
	if ahead := time.Duration(ts-wr.clock().UnixMicro()) * time.Microsecond; ahead > maxClockAhead {
		if !wr.warnedAhead {
			wr.warnedAhead = true
			logger.Errorf("a change was written with a timestamp %s ahead of this peer's clock: a clock is wrong; changes that follow it are not ordered after it", ahead.Round(time.Second))
		}
		return
	}
	wr.lastTS = ts
}

// isLate tells whether an event acknowledged now may have become visible
// after the readers' sweeps passed it: readers wait for events up to the
// longest write (feed_overlap is checked to exceed it plus clock skew).
func (wr *writer) isLate(w *pendingWrite) bool {
	return wr.clock().UnixMicro()-w.idTime > wr.s.cfg.WriteDeadline().Microseconds()
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

// admit refuses new changes while the backlog is full: nothing is written.
func (wr *writer) admit() error {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if len(wr.backlog) >= maxBacklog {
		return fmt.Errorf("%w: %d changes are retried until the database answers; retry later", ErrBacklog, len(wr.backlog))
	}
	return nil
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

// end records writes as done. A change that is not finished goes to the
// backlog, to be finished in the background, and the safe point stays
// before it: an event sent but not acknowledged (it may have been
// written: its error wraps ErrOutcomeUnknown), an event written without
// its row, and a late event (announced again by a fresh event). The
// backlog holds copies: the callers read their writes' errors.
func (wr *writer) end(ws []*pendingWrite) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for _, w := range ws {
		delete(wr.inflight, w)
		var st stage
		switch {
		case w.sent && !w.eventDone:
			st = needEvent
		case w.eventDone && w.err != nil:
			st = needRow
		case w.eventDone && w.late:
			st = needNotice
		default:
			continue
		}
		if w.err != nil {
			w.err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, w.err)
		}
		cp := *w
		cp.stage, cp.err = st, nil
		wr.backlog = append(wr.backlog, &cp)
	}
}

// safeBefore is the time before which every write of this writer is
// complete: the oldest write in flight or in the backlog, else now.
func (wr *writer) safeBefore() time.Time {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	oldest := wr.clock().UnixMicro()
	for _, id := range wr.inflight {
		oldest = min(oldest, id)
	}
	for _, w := range wr.backlog {
		oldest = min(oldest, w.idTime)
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
	err := wr.s.feed.Events(ctx, time.UnixMicro(since), passStart, func(e Event) error {
		if e.Writer == wr.id && !e.Legacy && e.WriteTime >= since {
			todo = append(todo, e)
		}
		return nil
	})
	if err == nil {
		for _, e := range todo {
			if err = wr.s.feed.Reannounce(ctx, e); err != nil {
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

// run beats and finishes the backlog until the store closes.
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
			wr.finish(wr.ctx)
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
	err := wr.s.session.Query(wr.s.stmts.heartbeat, ttl, wr.clock(), wr.safeBefore(), closed, wr.dc, schemaComponent, wr.id).
		WithContext(ctx).Exec()
	wr.s.health.record(err)
	return err
}

// finish takes the backlog a stage further: events of unknown outcome
// are written again (same ID, same timestamp: idempotent), then rows,
// then a fresh event for those whose event may have landed behind the
// readers (every event retried is: the readers may have passed it).
func (wr *writer) finish(ctx context.Context) {
	wr.mu.Lock()
	todo := wr.backlog
	wr.backlog = nil
	wr.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	byStage := func(st stage) []*pendingWrite {
		var out []*pendingWrite
		for _, w := range todo {
			if w.stage == st && w.err == nil {
				out = append(out, w)
			}
		}
		return out
	}
	if ws := byStage(needEvent); len(ws) > 0 {
		wr.s.writeEvents(ctx, ws)
		for _, w := range ws {
			if w.eventDone {
				w.stage, w.late = needRow, true
			}
		}
	}
	if ws := byStage(needRow); len(ws) > 0 {
		wr.s.writeRows(ctx, ws, "writing pin rows again")
		for _, w := range ws {
			if w.err == nil {
				w.stage = needNotice
			}
		}
	}
	for _, w := range byStage(needNotice) {
		if !w.late {
			w.stage = finished
			continue
		}
		notice := *w
		notice.idTime, notice.eventID = wr.freshID()
		if err := wr.s.eventLayout(ctx, []*pendingWrite{&notice}); err != nil {
			w.err = err
			continue
		}
		ev := wr.s.eventStmt(&notice)
		wr.s.runBatches(ctx, append(wr.s.activity.pending([]stmt{ev}), []stmt{ev}), "announcing a late change", wr.s.eventCons, nil)
		if notice.err != nil {
			w.err = notice.err
			continue
		}
		w.stage = finished
	}
	var left []*pendingWrite
	var firstErr error
	for _, w := range todo {
		if w.stage == finished {
			continue
		}
		if w.err != nil && firstErr == nil {
			firstErr = w.err
		}
		w.err = nil
		left = append(left, w)
	}
	if done := len(todo) - len(left); done > 0 {
		logger.Infof("%d changes finished in the background (outcome unknown, row missing or event late)", done)
	}
	if firstErr != nil {
		logger.Warnf("%d changes not finished yet; retrying in %s: %s", len(left), repairInterval, firstErr)
	}
	wr.mu.Lock()
	wr.backlog = append(wr.backlog, left...)
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
	wr.finish(ctx)
	wr.reannounce(ctx)
	wr.mu.Lock()
	clean := len(wr.backlog) == 0 && wr.unconfirmedSince == 0
	wr.mu.Unlock()
	if !clean {
		logger.Errorf("closing with changes not completed (outcome unknown, pin rows not written, or events written in this data center only): another peer will complete them")
	}
	if err := wr.beat(clean); err != nil {
		logger.Warnf("recording the last heartbeat of writer %s: %s", wr.id, err)
	}
}
