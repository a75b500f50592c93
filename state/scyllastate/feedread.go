package scyllastate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

// eventReader reads the events of the change feed, for the feed's readers
// and for the writer that announces its changes again. A change this
// store reads moves the clock of its writer past it (observe).
type eventReader struct {
	db     *db
	layout *layoutCache
	// observe is the writer's writer.observe; nil for a Reader, which
	// reads no events through it.
	observe func(ts int64)
}

// maxFeedPage bounds the page of a read of the change feed. The feed
// reads many partitions at once (list_concurrency queries, each with a
// page in hand and the next one fetched ahead), and its events carry
// whole pins: with page_size rows a page, a peer reading a burst of
// changes (an import of millions) held some 100 MB of pages.
const maxFeedPage = 1000

// feedPageSize is the page size of a read of the change feed.
func feedPageSize(pageSize int) int {
	return min(pageSize, maxFeedPage)
}

// readPartition calls fn for the events of one partition whose ID is
// after `after` and not after `upTo`, in ID order. A zero EventID for
// after means from the start of the partition.
func (r *eventReader) readPartition(ctx context.Context, p Partition, after, upTo EventID, fn func(Event) error) (err error) {
	d := r.db
	var stopped bool // by fn: not a failed query
	defer func(start time.Time) { d.metrics.observe("events", start, queryErr(err, stopped)) }(time.Now())
	iter := d.session.Query(d.stmts.events, p.Bucket, p.Shard, after.u, upTo.u).
		WithContext(ctx).PageSize(feedPageSize(d.cfg.PageSize)).Iter()
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
		r.observe(e.WriteTime)
		if err := fn(e); err != nil {
			_ = iter.Close()
			stopped = true
			return err
		}
	}
	err = scanner.Err()
	d.health.record(err)
	if err != nil {
		return fmt.Errorf("reading pin events of partition %d/%d: %w", p.Bucket, p.Shard, err)
	}
	return nil
}

// queryErr is the error a read's metrics record: none when the caller's
// fn stopped the read (a reader that has read enough is no failed query).
func queryErr(err error, stopped bool) error {
	if stopped {
		return nil
	}
	return err
}

// readPartitions reads several partitions of one bucket with one query
// (see Feed.ReadPartitions).
func (r *eventReader) readPartitions(ctx context.Context, parts []Partition, after func(Partition) EventID, upTo EventID, fn func(Partition, Event) error) (err error) {
	d := r.db
	if len(parts) == 0 {
		return nil
	}
	if len(parts) == 1 {
		p := parts[0]
		return r.readPartition(ctx, p, after(p), upTo, func(e Event) error { return fn(p, e) })
	}
	var stopped bool // by fn: not a failed query
	defer func(start time.Time) { d.metrics.observe("events", start, queryErr(err, stopped)) }(time.Now())
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
	iter := d.session.Query(d.stmts.eventsIn, bucket, shards, lo.u, upTo.u).
		WithContext(ctx).PageSize(feedPageSize(d.cfg.PageSize)).Iter()
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
		r.observe(e.WriteTime)
		if err := fn(Partition{Bucket: bucket, Shard: shard}, e); err != nil {
			_ = iter.Close()
			stopped = true
			return err
		}
	}
	err = scanner.Err()
	d.health.record(err)
	if err != nil {
		return fmt.Errorf("reading pin events of bucket %d (%d partitions): %w", bucket, len(parts), err)
	}
	return nil
}

// events calls fn for every event of the feed with an ID time between
// from and to (see Feed.Events).
func (r *eventReader) events(ctx context.Context, from, to time.Time, fn func(Event) error) error {
	d := r.db
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
	for range d.cfg.ListConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range parts {
				if err := r.readPartition(ctx, p, lo, hi, serialFn); err != nil {
					fail(err)
				}
			}
		}()
	}
	ps, err := r.partitions(ctx, from, to)
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

// partitions returns the partitions of the change feed holding events
// with IDs between from and to (see Feed.Partitions).
func (r *eventReader) partitions(ctx context.Context, from, to time.Time) ([]Partition, error) {
	l, err := r.layout.forBuckets(ctx, min(bucketOf(to), bucketOf(time.Now())))
	if err != nil {
		return nil, err
	}
	var ps []Partition
	for b := bucketOf(from); b <= bucketOf(to); b++ {
		for shard := 0; shard < l.at(b); shard++ {
			ps = append(ps, Partition{b, int8(shard)})
		}
	}
	return ps, nil
}
