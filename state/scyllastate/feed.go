package scyllastate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// The change feed, read side. Every change has one row in pin_events,
// partitioned by (bucket, shard): bucket is the minute of the event ID,
// shard a hash of the CID (so the changes of one CID are in one partition
// per minute, in event ID order). Rows expire after EventRetention.

// Event is one entry of the change feed.
type Event struct {
	// ID is unique per event; its time is when the writer issued the
	// write.
	ID EventID
	// Cid is the CID that changed.
	Cid api.Cid
	// Op tells whether the CID was pinned (or updated) or unpinned.
	Op Op
	// WriteTime is the write timestamp of the change in microseconds:
	// the pin row holds the change with the highest one (last writer
	// wins). Zero for Legacy events.
	WriteTime int64
	// Writer names the store that wrote the change.
	Writer string
	// Pin is the pin of an OpPin event; nil for unpins and Legacy events.
	Pin *api.Pin
	// Legacy events carry no change (schema version 1, or a payload this
	// build cannot read): a reader must read the pin row instead.
	Legacy bool
}

// Time is when the writer issued the change, by its own clock.
func (e Event) Time() time.Time { return e.ID.Time() }

// Feed is the change feed of a store: the events of the changes, the
// readers' checkpoints and the writers' records, the feed's layout and
// the expiry index; and the completion of changes from their events
// (RollForward, Reannounce). Get it with ScyllaState.Feed. It is safe for
// concurrent use while the store is open.
type Feed struct {
	s *ScyllaState
}

// Feed returns the change feed of the store.
func (s *ScyllaState) Feed() *Feed { return s.feed }

// Partition is one partition of the change feed.
type Partition struct {
	Bucket int64
	Shard  int8
}

// BucketStart is the time at which a bucket begins.
func BucketStart(bucket int64) time.Time { return time.Unix(0, bucket*int64(eventBucket)) }

// BucketWidth is the time span of one bucket of the feed.
const BucketWidth = eventBucket

// readPartition calls fn for the events of one partition whose ID is
// after `after` and not after `upTo`, in ID order. A zero EventID for
// after means from the start of the partition.
func (f *Feed) readPartition(ctx context.Context, p Partition, after, upTo EventID, fn func(Event) error) (err error) {
	s := f.s
	defer func(start time.Time) { s.metrics.observe("events", start, err) }(time.Now())
	iter := s.session.Query(s.stmts.events, p.Bucket, p.Shard, after.u, upTo.u).
		WithContext(ctx).PageSize(s.cfg.PageSize).Iter()
	scanner := iter.Scanner()
	for scanner.Next() {
		var (
			id          gocql.UUID
			cid, pin    []byte
			op          *int8
			changeBytes []byte
		)
		if err := scanner.Scan(&id, &cid, &op, &pin, &changeBytes); err != nil {
			_ = iter.Close()
			return fmt.Errorf("reading pin events: %w", err)
		}
		e, ok := decodeEvent(id, cid, op, pin, changeBytes)
		if !ok {
			continue
		}
		// This peer's next changes follow every change it has read.
		s.writer.observe(e.WriteTime)
		if err := fn(e); err != nil {
			_ = iter.Close()
			return err
		}
	}
	err = scanner.Err()
	s.health.record(err)
	if err != nil {
		return fmt.Errorf("reading pin events of partition %d/%d: %w", p.Bucket, p.Shard, err)
	}
	return nil
}

// ReadPartitions reads several partitions of one bucket with one query:
// it calls fn, in ID order within each partition, for the events of each
// partition p whose ID is after after(p) and not after upTo. An event
// whose ID time equals after(p) may be read again. One query costs the
// database far less than one per partition: it is how a peer polls the
// feed (see docs/cql.md).
func (f *Feed) ReadPartitions(ctx context.Context, parts []Partition, after func(Partition) EventID, upTo EventID, fn func(Partition, Event) error) (err error) {
	s := f.s
	if len(parts) == 0 {
		return nil
	}
	if len(parts) == 1 {
		p := parts[0]
		return f.readPartition(ctx, p, after(p), upTo, func(e Event) error { return fn(p, e) })
	}
	defer func(start time.Time) { s.metrics.observe("events", start, err) }(time.Now())
	bucket := parts[0].Bucket
	shards := make([]int8, len(parts))
	bounds := make(map[int8]EventID, len(parts))
	lo := after(parts[0])
	for i, p := range parts {
		if p.Bucket != bucket {
			return fmt.Errorf("reading pin events: partitions of buckets %d and %d in one query", bucket, p.Bucket)
		}
		shards[i] = p.Shard
		a := after(p)
		bounds[p.Shard] = a
		if a.Time().Before(lo.Time()) {
			lo = a
		}
	}
	lo = MinEventID(lo.Time())
	iter := s.session.Query(s.stmts.eventsIn, bucket, shards, lo.u, upTo.u).
		WithContext(ctx).PageSize(s.cfg.PageSize).Iter()
	scanner := iter.Scanner()
	for scanner.Next() {
		var (
			shard       int8
			id          gocql.UUID
			cid, pin    []byte
			op          *int8
			changeBytes []byte
		)
		if err := scanner.Scan(&shard, &id, &cid, &op, &pin, &changeBytes); err != nil {
			_ = iter.Close()
			return fmt.Errorf("reading pin events: %w", err)
		}
		if b := bounds[shard]; (EventID{id}) == b || id.Time().Before(b.Time()) {
			continue // read before, by the cursor of its partition
		}
		e, ok := decodeEvent(id, cid, op, pin, changeBytes)
		if !ok {
			continue
		}
		s.writer.observe(e.WriteTime)
		if err := fn(Partition{Bucket: bucket, Shard: shard}, e); err != nil {
			_ = iter.Close()
			return err
		}
	}
	err = scanner.Err()
	s.health.record(err)
	if err != nil {
		return fmt.Errorf("reading pin events of bucket %d (%d partitions): %w", bucket, len(parts), err)
	}
	return nil
}

// decodeEvent builds an event from its row. Rows that cannot be read
// at all are skipped with a warning; a change that cannot be decoded
// makes a Legacy event, so that the reader falls back to the pin row.
func decodeEvent(id gocql.UUID, cid []byte, op *int8, pin, changeBytes []byte) (Event, bool) {
	c, err := api.CastCid(cid)
	if err != nil {
		logger.Warnf("skipping feed event %s: bad CID %x: %s", id, cid, err)
		return Event{}, false
	}
	e := Event{ID: EventID{id}, Cid: c}
	if changeBytes == nil {
		if op == nil || (Op(*op) != OpPin && Op(*op) != OpUnpin) {
			logger.Warnf("skipping feed event %s of %s: no operation", id, c)
			return Event{}, false
		}
		e.Op, e.Legacy = Op(*op), true
		return e, true
	}
	ch, err := decodeChange(changeBytes)
	if err == nil && ch.op == OpPin {
		row := pinRow{cid: cid, pin: pin, meta: ch.meta}
		var p api.Pin
		if p, err = row.decode(); err == nil {
			e.Pin = &p
		}
	}
	if err != nil {
		logger.Warnf("feed event %s of %s cannot be read (%s): the pin row is read instead", id, c, err)
		e.Op, e.Legacy = OpPin, true
		if op != nil {
			e.Op = Op(*op)
		}
		return e, true
	}
	e.Op, e.WriteTime, e.Writer = ch.op, ch.ts, ch.writer
	return e, true
}

// Events calls fn for every event of the feed with an ID time between
// from and to (both included). Config.ListConcurrency partitions are read
// in parallel; the calls to fn are serialized, in ID order within a
// partition, in no order across partitions. It stops at the first error
// fn returns and returns it.
func (f *Feed) Events(ctx context.Context, from, to time.Time, fn func(Event) error) error {
	s := f.s
	if to.Before(from) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		fnMu     sync.Mutex
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	serialFn := func(e Event) error {
		fnMu.Lock()
		defer fnMu.Unlock()
		return fn(e)
	}
	parts := make(chan Partition)
	lo, hi := MinEventID(from), MaxEventID(to)
	for range s.cfg.ListConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range parts {
				if err := f.readPartition(ctx, p, lo, hi, serialFn); err != nil {
					fail(err)
				}
			}
		}()
	}
	ps, err := f.Partitions(ctx, from, to)
	if err != nil {
		return err
	}
feed:
	for _, p := range ps {
		select {
		case parts <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(parts)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// RollForward writes the pin row of an event with the event's write
// timestamp: the pin for OpPin, a deletion for OpUnpin. Because rows are
// last-writer-wins, this never overwrites a newer change; it completes a
// change whose writer wrote the event but not the row.
func (f *Feed) RollForward(ctx context.Context, e Event) (err error) {
	s := f.s
	defer func(start time.Time) { s.metrics.observe("roll_forward", start, err) }(time.Now())
	w, err := writeOf(e)
	if err != nil {
		return err
	}
	s.runBatches(ctx, chunk(s.rowStmts(w)), "rolling a change forward", s.cons, nil)
	return w.err
}

// writeOf rebuilds the write of an event's change, with its timestamp and
// writer.
func writeOf(e Event) (*pendingWrite, error) {
	if e.Legacy || e.WriteTime == 0 {
		return nil, fmt.Errorf("event %s of %s carries no change", e.ID, e.Cid)
	}
	w := &pendingWrite{cid: e.Cid.Bytes(), op: e.Op, ts: e.WriteTime, writer: e.Writer}
	if e.Op == OpPin {
		if e.Pin == nil {
			return nil, fmt.Errorf("pin event %s of %s carries no pin", e.ID, e.Cid)
		}
		row, err := encodePin(*e.Pin)
		if err != nil {
			return nil, err
		}
		w.row = row
	}
	return w, nil
}
