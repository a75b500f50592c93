package scyllastate

import (
	"context"
	"sort"
	"time"

	"github.com/gocql/gocql"
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

// eventStmt is the statement that writes the event of a change.
func (wr *writer) eventStmt(w *pendingWrite) stmt {
	writer := w.writer
	if writer == "" {
		writer = wr.id
	}
	ch := change{op: w.op, ts: w.ts, writer: writer}
	var pin any = gocql.UnsetValue
	if w.op == OpPin {
		ch.meta = w.row.meta
		pin = w.row.pin
	}
	enc := ch.encode()
	ttl := int64(wr.db.cfg.EventRetention / time.Second)
	// The layout is known for the bucket: every caller went through
	// eventLayout first, and a bucket's count never changes once known.
	bucket := bucketOf(w.eventID.Time())
	shard := partitionOf(w.cid, wr.layout.current().at(bucket))
	return stmt{
		cql:  wr.db.stmts.insertEvent,
		args: []any{bucket, shard, w.eventID, w.cid, pin, enc, ttl},
		size: 48 + len(w.cid) + len(w.row.pin) + len(enc),
		part: eventPart(bucket, shard),
		w:    w,
	}
}

// rowStmts are the statements that write the pin row of a change (and
// its expiry entry).
func (wr *writer) rowStmts(w *pendingWrite) []stmt {
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
			{cql: wr.db.stmts.deletePin, args: []any{w.ts - 1, w.cid}, size: 24 + len(w.cid), part: part, w: w},
			{cql: wr.db.stmts.markUnpin, args: []any{int64(wr.db.cfg.EventRetention / time.Second), w.ts, w.ts, w.cid}, size: 40 + len(w.cid), part: part, w: w},
		}
	}
	out := []stmt{{
		cql:  wr.db.stmts.insertPin,
		args: []any{w.cid, w.row.pin, w.row.meta, w.ts},
		size: 32 + len(w.cid) + len(w.row.pin) + len(w.row.meta),
		part: rowPart(w.cid),
		w:    w,
	}}
	if exp := w.expireAtNs(); exp > 0 {
		out = append(out, wr.expiryStmt(w, exp))
	}
	return out
}

// writeEvents writes the events of changes, grouped by feed partition,
// at event_consistency (falling back to LOCAL_QUORUM, see
// fallBackToLocal). It sets eventDone on the acknowledged ones, err on the
// others, and marks late the events acknowledged after the longest write
// the readers wait for.
func (wr *writer) writeEvents(ctx context.Context, ws []*pendingWrite) {
	type part struct {
		bucket int64
		shard  int8
	}
	if err := wr.eventLayout(ctx, ws); err != nil {
		for _, w := range ws {
			w.err = err // not sent: nothing happened
		}
		return
	}
	byPart := map[part][]stmt{}
	var parts []part
	for _, w := range ws {
		w.sent = true
		st := wr.eventStmt(w)
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
	eventBatches := append(wr.activity.pending(firsts), chunk(events)...)
	wr.db.runBatches(ctx, eventBatches, "writing change events", wr.db.eventCons, func(w *pendingWrite) { w.eventDone = true })
	if wr.db.eventCons == gocql.EachQuorum {
		wr.fallBackToLocal(ctx, ws)
	}
	for _, w := range ws {
		if w.eventDone && wr.isLate(w) {
			w.late = true
		}
	}
}

// eventLayout makes sure that the feed layout is known for the buckets of
// the events of ws (see layout.go).
func (wr *writer) eventLayout(ctx context.Context, ws []*pendingWrite) error {
	last := int64(0)
	for _, w := range ws {
		if b := bucketOf(w.eventID.Time()); b > last {
			last = b
		}
	}
	_, err := wr.layout.forBuckets(ctx, last)
	return err
}

// writeRows writes the rows of changes whose event is written, sorted by
// CID hash so that the batches of one group are stable.
func (wr *writer) writeRows(ctx context.Context, ws []*pendingWrite, what string) {
	var rows []stmt
	for _, w := range ws {
		rows = append(rows, wr.rowStmts(w)...)
	}
	sort.SliceStable(rows, func(i, j int) bool { return cidHash(rows[i].w.cid) < cidHash(rows[j].w.cid) })
	wr.db.runBatches(ctx, chunk(rows), what, wr.db.cons, nil)
}

// fallBackToLocal writes at LOCAL_QUORUM the events that EACH_QUORUM
// could not write (a data center unreachable), so that the peers of this
// data center see the changes and writes stay available. The writer
// re-announces them in every data center later (reannounce).
func (wr *writer) fallBackToLocal(ctx context.Context, ws []*pendingWrite) {
	var failed []stmt
	for _, w := range ws {
		if w.err != nil && !w.eventDone {
			w.err = nil
			failed = append(failed, wr.eventStmt(w))
		}
	}
	if len(failed) == 0 {
		return
	}
	wr.db.runBatches(ctx, append(wr.activity.pending(failed), chunk(failed)...), "writing change events (LOCAL_QUORUM)", gocql.LocalQuorum, func(w *pendingWrite) {
		w.eventDone = true
		wr.unconfirmed(w.idTime)
	})
	logger.Warnf("%d change events could not be written at EACH_QUORUM (a data center is unreachable?): written at LOCAL_QUORUM, to be announced again in every data center", len(failed))
}

// announce writes a change again in every data center (at
// event_consistency): its pin row, with its write timestamp, then a new
// event with the same change (see Feed.Reannounce).
func (wr *writer) announce(ctx context.Context, e Event) error {
	w, err := writeOf(e)
	if err != nil {
		return err
	}
	wr.db.runBatches(ctx, chunk(wr.rowStmts(w)), "announcing a change again (row)", wr.db.eventCons, nil)
	if w.err != nil {
		return w.err
	}
	w.idTime, w.eventID = wr.freshID()
	if err := wr.eventLayout(ctx, []*pendingWrite{w}); err != nil {
		return err
	}
	ev := wr.eventStmt(w)
	wr.db.runBatches(ctx, append(wr.activity.pending([]stmt{ev}), []stmt{ev}), "announcing a change again (event)", wr.db.eventCons, nil)
	return w.err
}
