package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// The change feed. Every Add and Rm writes, in the same logged batch as
// the pin row, one row of the pin_events table: which CID changed, when,
// and whether it was added or removed. Rows expire after
// Config.EventRetention. Readers (the scylla consensus of every peer) tail
// the feed from a checkpoint and re-read the pin row of each CID they see,
// so that delivery is idempotent and the order of events does not matter.
//
// Events are partitioned by (bucket, shard): bucket is the minute of the
// event, shard a hash of the CID, which spreads the writes of one minute
// over eventShards partitions.

const (
	eventsTable      = "pin_events"
	checkpointsTable = "peer_checkpoints"

	// eventBucket is the width of one event partition in time.
	eventBucket = time.Minute
	// eventShards is the number of partitions per bucket. Writers and
	// readers must agree on it: it is part of the schema version.
	eventShards = 4
	// maxTTL is the largest TTL CQL accepts (20 years).
	maxTTL = 630720000 * time.Second
)

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

// Event is one entry of the change feed.
type Event struct {
	// ID is a time UUID, unique per change.
	ID gocql.UUID
	// Cid is the CID that changed.
	Cid api.Cid
	// Op tells whether the CID was added (or updated) or removed.
	Op Op
}

// Time is when the writer made the change, by its own clock.
func (e Event) Time() time.Time { return e.ID.Time() }

func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(eventBucket) }

func shardOf(cid []byte) int8 {
	h := fnv.New32a()
	_, _ = h.Write(cid)
	return int8(h.Sum32() % eventShards)
}

// change writes a pin row (row.pin != nil) or deletes it, together with
// its feed event, in one logged batch. The write timestamp and the event
// ID are fixed before the first attempt, so a retried batch cannot
// overwrite a newer change made meanwhile by another peer.
func (s *ScyllaState) change(ctx context.Context, row pinRow, op Op) error {
	now := time.Now()
	id := gocql.UUIDFromTime(now)
	b := s.session.Batch(gocql.LoggedBatch).WithContext(ctx).WithTimestamp(now.UnixMicro())
	if op == OpPin {
		b.Entries = append(b.Entries, gocql.BatchEntry{
			Stmt:       s.stmts.insert,
			Args:       []any{row.cid, row.pin, row.mode, row.userAllocs, row.tsNs, row.expireAtNs},
			Idempotent: true,
		})
	} else {
		b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: s.stmts.del, Args: []any{row.cid}, Idempotent: true})
	}
	b.Entries = append(b.Entries, gocql.BatchEntry{
		Stmt:       s.stmts.insertEvent,
		Args:       []any{bucketOf(now), shardOf(row.cid), id, row.cid, int8(op), int64(s.cfg.EventRetention / time.Second)},
		Idempotent: true,
	})
	if err := b.Exec(); err != nil {
		return fmt.Errorf("writing %s of %s: %w", op, cidString(row.cid), err)
	}
	return nil
}

func cidString(b []byte) string {
	c, err := api.CastCid(b)
	if err != nil {
		return fmt.Sprintf("%x", b)
	}
	return c.String()
}

// Events calls fn for every event of the feed written between from and to
// (both included), by the writers' clocks. Config.ListConcurrency
// partitions (one minute and shard each) are read in parallel; the calls
// to fn are serialized, in time order within a partition, in no order
// across partitions. It stops at the first error fn returns and returns
// it.
func (s *ScyllaState) Events(ctx context.Context, from, to time.Time, fn func(Event) error) (err error) {
	defer func(start time.Time) { s.metrics.observe("events", start, err) }(time.Now())
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
	type partition struct {
		bucket int64
		shard  int8
	}
	parts := make(chan partition)
	lo, hi := gocql.MinTimeUUID(from), gocql.MaxTimeUUID(to)
	for range s.cfg.ListConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range parts {
				if err := s.readEvents(ctx, p.bucket, p.shard, lo, hi, serialFn); err != nil {
					fail(err)
				}
			}
		}()
	}
feed:
	for b := bucketOf(from); b <= bucketOf(to); b++ {
		for shard := int8(0); shard < eventShards; shard++ {
			select {
			case parts <- partition{b, shard}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(parts)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (s *ScyllaState) readEvents(ctx context.Context, bucket int64, shard int8, lo, hi gocql.UUID, fn func(Event) error) error {
	iter := s.session.Query(s.stmts.events, bucket, shard, lo, hi).
		WithContext(ctx).PageSize(s.cfg.PageSize).Iter()
	var (
		id  gocql.UUID
		cid []byte
		op  int8
	)
	for iter.Scan(&id, &cid, &op) {
		c, err := api.CastCid(cid)
		if err != nil {
			logger.Warnf("skipping feed event %s: bad CID %x: %s", id, cid, err)
			continue
		}
		if err := fn(Event{ID: id, Cid: c, Op: Op(op)}); err != nil {
			_ = iter.Close()
			return err
		}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading pin events: %w", err)
	}
	return nil
}

// Checkpoint returns the feed position saved for a reader (a peer ID), and
// false when there is none.
func (s *ScyllaState) Checkpoint(ctx context.Context, reader string) (time.Time, bool, error) {
	var pos time.Time
	err := s.session.Query(s.stmts.getCheckpoint, reader).WithContext(ctx).Scan(&pos)
	if errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the feed checkpoint of %s: %w", reader, err)
	}
	return pos, true, nil
}

// SaveCheckpoint records how far a reader has processed the feed. It is
// the only per-peer row of the keyspace; pins are never touched.
func (s *ScyllaState) SaveCheckpoint(ctx context.Context, reader string, pos time.Time) error {
	if err := s.session.Query(s.stmts.saveCheckpoint, reader, pos).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("saving the feed checkpoint of %s: %w", reader, err)
	}
	return nil
}
