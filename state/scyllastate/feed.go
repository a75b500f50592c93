package scyllastate

import (
	"context"
	"fmt"
	"time"
)

// Feed is the change feed of a store: the events of the changes, the
// readers' checkpoints and the writers' records, the feed's layout and
// the expiry index; and the completion of changes from their events
// (RollForward, Reannounce). Get it with ScyllaState.Feed. It is safe for
// concurrent use while the store is open.
type Feed struct {
	db     *db
	layout *layoutCache
	events *eventReader
	writer *writer // nil for a Reader's feed
}

// ReadPartitions reads several partitions of one bucket with one query:
// it calls fn, in ID order within each partition, for the events of each
// partition p whose ID is after after(p) and not after upTo. An event
// whose ID time equals after(p) may be read again. One query costs the
// database far less than one per partition: it is how a peer polls the
// feed (see docs/cql.md).
func (f *Feed) ReadPartitions(ctx context.Context, parts []Partition, after func(Partition) EventID, upTo EventID, fn func(Partition, Event) error) (err error) {
	return f.events.readPartitions(ctx, parts, after, upTo, fn)
}

// Events calls fn for every event of the feed with an ID time between
// from and to (both included). Config.ListConcurrency partitions are read
// in parallel; the calls to fn are serialized, in ID order within a
// partition, in no order across partitions. It stops at the first error
// fn returns and returns it.
func (f *Feed) Events(ctx context.Context, from, to time.Time, fn func(Event) error) error {
	return f.events.events(ctx, from, to, fn)
}

// Partitions returns the partitions of the change feed holding events
// with IDs between from and to, in time order. Buckets more than a few
// minutes ahead of this peer's clock (written by a writer whose clock
// runs ahead) get the newest layout known: the feed reads them again
// once they are current.
func (f *Feed) Partitions(ctx context.Context, from, to time.Time) ([]Partition, error) {
	return f.events.partitions(ctx, from, to)
}

// ActivePartitions returns the partitions holding events with IDs
// between from and to, as the activity index has them, in time order:
// what a peer polling the feed reads (see the package documentation of
// consensus/scylla). Partitions the index lacks are read by the sweeps
// (Partitions lists them all).
func (f *Feed) ActivePartitions(ctx context.Context, from, to time.Time) (_ []Partition, err error) {
	defer func(start time.Time) { f.db.metrics.observe("events", start, err) }(time.Now())
	l, err := f.layout.forBuckets(ctx, min(bucketOf(to), bucketOf(time.Now())))
	if err != nil {
		return nil, err
	}
	var ps []Partition
	for b := bucketOf(from); b <= bucketOf(to); b++ {
		iter := f.db.session.Query(f.db.stmts.active, b).WithContext(ctx).Consistency(f.db.cons).Iter()
		var shard int8
		for iter.Scan(&shard) {
			if int(shard) < l.at(b) {
				ps = append(ps, Partition{Bucket: b, Shard: shard})
			}
		}
		err := iter.Close()
		f.db.health.record(err)
		if err != nil {
			return nil, fmt.Errorf("reading the active partitions of feed bucket %d: %w", b, err)
		}
	}
	return ps, nil
}

// Layout returns the layout of the change feed, oldest entry first
// (empty: 4 partitions per minute, the layout of schema versions 1 to 3).
func (f *Feed) Layout(ctx context.Context) ([]LayoutEntry, error) {
	if err := f.layout.load(ctx); err != nil {
		return nil, err
	}
	return f.layout.current().entries(), nil
}

// ScheduleEventPartitions changes the number of change-feed partitions
// per minute, from the first minute that starts at least 10 minutes from
// now (every peer re-reads the layout well before) on. It returns when
// the change applies. Safe to run on a live cluster and twice.
func (f *Feed) ScheduleEventPartitions(ctx context.Context, n int) (time.Time, error) {
	if n < 1 || n > MaxEventPartitions {
		return time.Time{}, invalid("event_partitions", "%d is out of range: use 1 to %d", n, MaxEventPartitions)
	}
	from := bucketOf(time.Now().Add(layoutLead)) + 1
	if err := f.layout.insertLayout(ctx, from, n); err != nil {
		return time.Time{}, err
	}
	if err := f.layout.load(ctx); err != nil {
		return time.Time{}, err
	}
	if got := f.layout.current().at(from); got != n {
		return time.Time{}, fmt.Errorf("another change to %d partitions per minute scheduled for the same minute (%s) holds (the larger count wins): run the command again after %s",
			got, BucketStart(from).UTC().Format(time.RFC3339), BucketStart(bucketOf(time.Now())+1).UTC().Format(time.RFC3339))
	}
	return BucketStart(from), nil
}

// RollForward writes the pin row of an event with the event's write
// timestamp: the pin for OpPin, a deletion for OpUnpin. Because rows are
// last-writer-wins, this never overwrites a newer change; it completes a
// change whose writer wrote the event but not the row.
func (f *Feed) RollForward(ctx context.Context, e Event) (err error) {
	defer func(start time.Time) { f.db.metrics.observe("roll_forward", start, err) }(time.Now())
	w, err := writeOf(e)
	if err != nil {
		return err
	}
	f.db.runBatches(ctx, chunk(f.writer.rowStmts(w)), "rolling a change forward", f.db.cons, nil)
	return w.err
}

// Reannounce writes a change again in every data center (at
// event_consistency): its pin row, with its write timestamp, then a new
// event with the same change. Peers of a data center that missed the
// first event see the new one; its row is there before it.
func (f *Feed) Reannounce(ctx context.Context, e Event) error {
	return f.writer.announce(ctx, e)
}
