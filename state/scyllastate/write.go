package scyllastate

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
)

// The write path. A change (a pin or an unpin) is written in two steps:
//
//  1. its event, in the change feed (pin_events), carrying the whole
//     change: operation, write timestamp, writer and the pin itself;
//  2. its pin row (pins), inserted or deleted with that same timestamp,
//     and for a pin with an expiry, its entry in pin_expiry.
//
// Step 2 starts only after step 1 is acknowledged. Changes are written in
// groups: the events of a group in unlogged batches (no batchlog) of at
// most 10 partitions, the events of one partition kept together, and the
// rows likewise; batches are bounded in size (see chunk). See the package documentation for why no crash
// can leave a row without its event, and how an event without its row is
// completed.

// Op is the kind of a pin change.
type Op int8

// Pin changes.
const (
	OpPin   Op = 1
	OpUnpin Op = 2
)

func (o Op) String() string {
	switch o {
	case OpPin:
		return "pin"
	case OpUnpin:
		return "unpin"
	}
	return fmt.Sprintf("op(%d)", int8(o))
}

const (
	// eventBucket is the width of one feed partition in time.
	eventBucket = time.Minute
	// maxTTL is the largest TTL CQL accepts (20 years).
	maxTTL = 630720000 * time.Second
	// maxBatchBytes keeps batches below Cassandra's default
	// batch_size_warn_threshold (5 KiB), so that no batch floods the
	// server log with warnings.
	maxBatchBytes = 3800
	// maxBatchStatements bounds the statements of one batch.
	maxBatchStatements = 64
	// maxBatchPartitions bounds the partitions of one batch: Cassandra
	// warns above 10 (unlogged_batch_across_partitions_warn_threshold).
	maxBatchPartitions = 10
	// expiryBucket is the width of one pin_expiry partition.
	expiryBucket = time.Hour
)

func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(eventBucket) }

func expiryBucketOf(ns int64) int64 { return ns / int64(expiryBucket) }

// pendingWrite is one change on its way to the database.
type pendingWrite struct {
	cid []byte
	op  Op
	row pinRow // the pin and its meta, for OpPin

	// writer names who made the change; empty means this store.
	writer string

	// Set when the write is issued.
	ts      int64 // write timestamp, microseconds (hybrid logical clock)
	idTime  int64 // the event ID's time, microseconds (physical clock)
	eventID gocql.UUID
	// sent is set once the event was sent: from then on a failure leaves
	// its outcome unknown.
	sent bool
	// eventDone is set once the event is acknowledged.
	eventDone bool
	// late is set when the event may have become visible after the
	// readers' sweeps passed its ID (see writer.isLate): a fresh event
	// announces the change again.
	late bool
	// stage is what is left to do of a change in the writer's backlog.
	stage stage
	err   error
}

func pinWrite(row pinRow) *pendingWrite { return &pendingWrite{cid: row.cid, op: OpPin, row: row} }
func unpinWrite(cid []byte) *pendingWrite {
	return &pendingWrite{cid: cid, op: OpUnpin}
}

// expireAtNs returns the expiry of a pin write, 0 for none.
func (w *pendingWrite) expireAtNs() int64 {
	if w.op != OpPin {
		return 0
	}
	m, err := decodeMeta(w.row.meta)
	if err != nil {
		return 0
	}
	if m.expireAtNs != 0 {
		return m.expireAtNs
	}
	var p api.Pin
	if err := p.ProtoUnmarshal(w.row.pin); err == nil && !p.ExpireAt.IsZero() {
		return unixNano(p.ExpireAt)
	}
	return 0
}

// stmt is one statement of a batch, with its estimated size.
type stmt struct {
	cql  string
	args []any
	size int
	// part identifies the statement's partition (a hash: it only counts
	// the partitions of a batch, see chunk).
	part uint64
	w    *pendingWrite
	// done, for a statement of no change (w nil, e.g. the activity
	// index), is told the outcome of its batch.
	done func(error)
}

func (s *ScyllaState) eventStmt(w *pendingWrite) stmt {
	writer := w.writer
	if writer == "" {
		writer = s.writer.id
	}
	ch := change{op: w.op, ts: w.ts, writer: writer}
	var pin any = gocql.UnsetValue
	if w.op == OpPin {
		ch.meta = w.row.meta
		pin = w.row.pin
	}
	enc := ch.encode()
	ttl := int64(s.cfg.EventRetention / time.Second)
	// The layout is known for the bucket: every caller went through
	// eventLayout first, and a bucket's count never changes once known.
	bucket := bucketOf(w.eventID.Time())
	shard := partitionOf(w.cid, s.layout.current().at(bucket))
	return stmt{
		cql:  s.stmts.insertEvent,
		args: []any{bucket, shard, w.eventID, w.cid, pin, enc, ttl},
		size: 48 + len(w.cid) + len(w.row.pin) + len(enc),
		part: eventPart(bucket, shard),
		w:    w,
	}
}

func (s *ScyllaState) rowStmts(w *pendingWrite) []stmt {
	if w.op == OpUnpin {
		// The row (and any older value) is deleted just before the
		// unpin's timestamp, then the pin's columns at it: a pin of
		// the same timestamp (a concurrent change of another writer
		// that read the same value) loses, as in every applier. The
		// unpin leaves its timestamp for event_retention: a later
		// change that reads it is stamped after it (hybrid logical
		// clock). A row deletion at ts would delete the marker too (on
		// a tie a deletion wins in CQL), hence ts-1 for it.
		part := rowPart(w.cid)
		return []stmt{
			{cql: s.stmts.deletePin, args: []any{w.ts - 1, w.cid}, size: 24 + len(w.cid), part: part, w: w},
			{cql: s.stmts.markUnpin, args: []any{int64(s.cfg.EventRetention / time.Second), w.ts, w.ts, w.cid}, size: 40 + len(w.cid), part: part, w: w},
		}
	}
	out := []stmt{{
		cql:  s.stmts.insertPin,
		args: []any{w.cid, w.row.pin, w.row.meta, w.ts},
		size: 32 + len(w.cid) + len(w.row.pin) + len(w.row.meta),
		part: rowPart(w.cid),
		w:    w,
	}}
	if exp := w.expireAtNs(); exp > 0 {
		ttl := time.Until(time.Unix(0, exp)) + s.cfg.EventRetention
		if ttl < s.cfg.EventRetention {
			ttl = s.cfg.EventRetention
		}
		if ttl > maxTTL {
			ttl = maxTTL
		}
		out = append(out, stmt{
			cql:  s.stmts.insertExpiry,
			args: []any{expiryBucketOf(exp), exp, w.cid, int64(ttl / time.Second), w.ts},
			size: 40 + len(w.cid),
			part: expiryPart(expiryBucketOf(exp)),
			w:    w,
		})
	}
	return out
}

// chunk cuts statements into unlogged batches within the limits: bytes,
// statements and partitions. A batch may span partitions (fewer requests
// for the database to handle); it is then not atomic, which nothing
// relies on: a failed batch fails every change in it, whose outcome is
// then unknown and which the writer finishes (see writer.end). Statements
// of one partition that follow each other stay in one batch when they fit.
func chunk(stmts []stmt) [][]stmt {
	var out [][]stmt
	var cur []stmt
	var parts []uint64
	size := 0
	for _, st := range stmts {
		newPart := !slices.Contains(parts, st.part)
		if len(cur) > 0 && (size+st.size > maxBatchBytes || len(cur) >= maxBatchStatements ||
			(newPart && len(parts) >= maxBatchPartitions)) {
			out = append(out, cur)
			cur, parts, size = nil, parts[:0], 0
			newPart = true
		}
		if newPart {
			parts = append(parts, st.part)
		}
		cur = append(cur, st)
		size += st.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// eventPart, rowPart and expiryPart identify the partitions of the
// statements (see chunk); tables differ in the top bits.
func eventPart(bucket int64, shard int8) uint64 {
	return 1<<62 | uint64(bucket)<<8 | uint64(uint8(shard))
}

func rowPart(cid []byte) uint64 { return 2<<62 | uint64(cidHash(cid)) }

func expiryPart(bucket int64) uint64 { return 3<<62 | uint64(bucket)&(1<<62-1) }

// commit writes a group of changes: every event, then the rows of the
// changes whose event was acknowledged. It sets w.err on the changes
// that failed and returns how many did. A change whose event was sent but
// not acknowledged (a timeout: it may have been written) is not dropped:
// its error wraps ErrOutcomeUnknown and the writer keeps retrying it with
// the same timestamp until it is known (see writer.end).
func (s *ScyllaState) commit(ctx context.Context, ws []*pendingWrite) int {
	if len(ws) == 0 {
		return 0
	}
	if err := s.writer.admit(); err != nil {
		for _, w := range ws {
			w.err = err
		}
		return len(ws)
	}
	s.writer.begin(ws)
	defer s.writer.end(ws)
	if err := s.writer.register(); err != nil {
		for _, w := range ws {
			w.err = err
		}
		return len(ws)
	}

	s.writeEvents(ctx, ws)
	seams.AfterEvents(s.writer.id) // tests only: see seams.SetAfterEvents

	// Rows of the changes whose event is in the feed.
	var done []*pendingWrite
	for _, w := range ws {
		if w.eventDone {
			done = append(done, w)
		}
	}
	s.writeRows(ctx, done, "writing pin rows")

	failed := 0
	for _, w := range ws {
		if w.err != nil {
			failed++
		}
	}
	return failed
}

// writeEvents writes the events of changes, grouped by feed partition,
// at event_consistency (falling back to LOCAL_QUORUM, see
// fallBackToLocal). It sets eventDone on the acknowledged ones, err on the
// others, and marks late the events acknowledged after the longest write
// the readers wait for.
func (s *ScyllaState) writeEvents(ctx context.Context, ws []*pendingWrite) {
	type part struct {
		bucket int64
		shard  int8
	}
	if err := s.eventLayout(ctx, ws); err != nil {
		for _, w := range ws {
			w.err = err // not sent: nothing happened
		}
		return
	}
	byPart := map[part][]stmt{}
	var parts []part
	for _, w := range ws {
		w.sent = true
		st := s.eventStmt(w)
		p := part{st.args[0].(int64), st.args[1].(int8)}
		if _, ok := byPart[p]; !ok {
			parts = append(parts, p)
		}
		byPart[p] = append(byPart[p], st)
	}
	var firsts []stmt
	for _, p := range parts {
		firsts = append(firsts, byPart[p][0])
	}
	// The activity index first: sent with the events, under the same
	// write_concurrency (see activity.go).
	var events []stmt
	for _, p := range parts {
		events = append(events, byPart[p]...)
	}
	eventBatches := append(s.activity.pending(firsts), chunk(events)...)
	s.runBatches(ctx, eventBatches, "writing change events", s.eventCons, func(w *pendingWrite) { w.eventDone = true })
	if s.eventCons == gocql.EachQuorum {
		s.fallBackToLocal(ctx, ws)
	}
	for _, w := range ws {
		if w.eventDone && s.writer.isLate(w) {
			w.late = true
		}
	}
}

// eventLayout makes sure that the feed layout is known for the buckets of
// the events of ws (see layout.go).
func (s *ScyllaState) eventLayout(ctx context.Context, ws []*pendingWrite) error {
	last := int64(0)
	for _, w := range ws {
		if b := bucketOf(w.eventID.Time()); b > last {
			last = b
		}
	}
	_, err := s.layout.forBuckets(ctx, last)
	return err
}

// writeRows writes the rows of changes whose event is written, sorted by
// CID hash so that the batches of one group are stable.
func (s *ScyllaState) writeRows(ctx context.Context, ws []*pendingWrite, what string) {
	var rows []stmt
	for _, w := range ws {
		rows = append(rows, s.rowStmts(w)...)
	}
	sort.SliceStable(rows, func(i, j int) bool { return cidHash(rows[i].w.cid) < cidHash(rows[j].w.cid) })
	s.runBatches(ctx, chunk(rows), what, s.cons, nil)
}

// fallBackToLocal writes at LOCAL_QUORUM the events that EACH_QUORUM
// could not write (a data center unreachable), so that the peers of this
// data center see the changes and writes stay available. The writer
// re-announces them in every data center later (reannounce).
func (s *ScyllaState) fallBackToLocal(ctx context.Context, ws []*pendingWrite) {
	var failed []stmt
	for _, w := range ws {
		if w.err != nil && !w.eventDone {
			w.err = nil
			failed = append(failed, s.eventStmt(w))
		}
	}
	if len(failed) == 0 {
		return
	}
	s.runBatches(ctx, append(s.activity.pending(failed), chunk(failed)...), "writing change events (LOCAL_QUORUM)", gocql.LocalQuorum, func(w *pendingWrite) {
		w.eventDone = true
		s.writer.unconfirmed(w.idTime)
	})
	logger.Warnf("%d change events could not be written at EACH_QUORUM (a data center is unreachable?): written at LOCAL_QUORUM, to be announced again in every data center", len(failed))
}

// Reannounce writes a change again in every data center (at
// event_consistency): its pin row, with its write timestamp, then a new
// event with the same change. Peers of a data center that missed the
// first event see the new one; its row is there before it.
func (f *Feed) Reannounce(ctx context.Context, e Event) error {
	s := f.s
	w, err := writeOf(e)
	if err != nil {
		return err
	}
	s.runBatches(ctx, chunk(s.rowStmts(w)), "announcing a change again (row)", s.eventCons, nil)
	if w.err != nil {
		return w.err
	}
	w.idTime, w.eventID = s.writer.freshID()
	if err := s.eventLayout(ctx, []*pendingWrite{w}); err != nil {
		return err
	}
	ev := s.eventStmt(w)
	s.runBatches(ctx, append(s.activity.pending([]stmt{ev}), []stmt{ev}), "announcing a change again (event)", s.eventCons, nil)
	return w.err
}

func cidHash(c []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(c)
	return h.Sum32()
}

// runBatches executes unlogged batches, write_concurrency at a time, at
// the configured consistency. A failed batch sets the error of its
// changes; ok is called for the changes of every batch that succeeded.
func (s *ScyllaState) runBatches(ctx context.Context, batches [][]stmt, what string, cons gocql.Consistency, ok func(*pendingWrite)) {
	sem := make(chan struct{}, s.cfg.WriteConcurrency)
	var (
		wg sync.WaitGroup
		mu sync.Mutex // guards the changes' err: a change may span batches
	)
	run := func(b []stmt) {
		defer func() { <-sem }()
		err := s.execBatch(ctx, b, cons)
		s.health.record(err)
		mu.Lock()
		defer mu.Unlock()
		for _, st := range b {
			if st.w == nil {
				if st.done != nil {
					st.done(err)
				}
				continue
			}
			if err != nil {
				if st.w.err == nil {
					st.w.err = fmt.Errorf("%s: %w", what, err)
				}
			} else if ok != nil {
				ok(st.w)
			}
		}
	}
	for i, b := range batches {
		sem <- struct{}{}
		if i == len(batches)-1 {
			// The last one on this goroutine: a group of one batch
			// (the common case) starts no goroutine.
			run(b)
			break
		}
		wg.Add(1)
		go func(b []stmt) {
			defer wg.Done()
			run(b)
		}(b)
	}
	wg.Wait()
}

func (s *ScyllaState) execBatch(ctx context.Context, b []stmt, cons gocql.Consistency) error {
	if len(b) == 1 {
		return s.session.Query(b[0].cql, b[0].args...).WithContext(ctx).Consistency(cons).Idempotent(true).Exec()
	}
	batch := s.session.Batch(gocql.UnloggedBatch).WithContext(ctx)
	batch.SetConsistency(cons)
	for _, st := range b {
		batch.Entries = append(batch.Entries, gocql.BatchEntry{Stmt: st.cql, Args: st.args, Idempotent: true})
	}
	return batch.Exec()
}
