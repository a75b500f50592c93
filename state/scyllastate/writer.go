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

// writer is the writing side of a store: it stamps writes with a hybrid
// logical clock and gives them event IDs, groups concurrent single
// changes, keeps the time before which all its writes are complete (the
// safe point), records it with a heartbeat, and finishes in the
// background the changes it could not finish at once (its backlog).
type writer struct {
	db       *db
	layout   *layoutCache
	activity *activity
	// events reads the feed, for the changes to announce again.
	events *eventReader

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

// groupItem is one change waiting for its group, and where its caller
// waits for the outcome.
type groupItem struct {
	w    *pendingWrite
	done chan error
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
	return wr.clock().UnixMicro()-w.idTime > wr.db.cfg.WriteDeadline().Microseconds()
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

// beat records the heartbeat and safe point. closed marks a clean stop:
// nothing of this writer is left to complete.
func (wr *writer) beat(closed bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), wr.db.cfg.Timeout)
	defer cancel()
	ttl := int64(wr.db.cfg.EventRetention / time.Second)
	err := wr.db.session.Query(wr.db.stmts.heartbeat, ttl, wr.clock(), wr.safeBefore(), closed, wr.dc, schemaComponent, wr.id).
		WithContext(ctx).Exec()
	wr.db.health.record(err)
	return err
}
