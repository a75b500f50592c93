package scyllastate

import (
	"sync"
	"time"
)

// The activity index of the change feed (table feed_activity): for each
// bucket, the partitions that hold events. A writer records a partition
// once, with its first event there, in parallel with the event itself;
// a polling peer reads this one partition, then only the partitions it
// names. So an idle peer's poll costs one small read however many
// partitions a bucket has (event_partitions).
//
// The index only speeds up the fresh reads: a partition recorded late, or
// not at all (its write failed), is read by the next sweep, which reads
// every partition of the feed from the position on (see consensus/scylla),
// so nothing is missed, at worst seen up to feed_overlap later.

// activity remembers the partitions this store has recorded.
type activity struct {
	db     *db
	mu     sync.Mutex
	marked map[Partition]bool
}

// newActivity builds the activity index writer of a store.
func newActivity(d *db) *activity {
	return &activity{db: d, marked: map[Partition]bool{}}
}

// pending returns the statements that record, in the activity index, the
// partitions of event statements not recorded yet: one single-partition
// batch per bucket (all its rows are in one partition). They go with the
// event batches (runBatches, under write_concurrency); a failure is
// logged, and the partition is recorded again with its next event.
func (a *activity) pending(events []stmt) [][]stmt {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := bucketOf(time.Now())
	for p := range a.marked {
		if p.Bucket < now-2 {
			delete(a.marked, p)
		}
	}
	byBucket := map[int64][]stmt{}
	var buckets []int64
	for _, st := range events {
		p := Partition{Bucket: st.args[0].(int64), Shard: st.args[1].(int8)}
		if a.marked[p] {
			continue
		}
		a.marked[p] = true // one write at a time; undone on failure
		if _, ok := byBucket[p.Bucket]; !ok {
			buckets = append(buckets, p.Bucket)
		}
		byBucket[p.Bucket] = append(byBucket[p.Bucket], stmt{
			cql:  a.db.stmts.markActive,
			args: []any{p.Bucket, p.Shard},
			size: 16,
			done: func(err error) { a.done(p, err) },
		})
	}
	var out [][]stmt
	for _, b := range buckets {
		out = append(out, chunk(byBucket[b])...)
	}
	return out
}

func (a *activity) done(p Partition, err error) {
	if err == nil {
		return
	}
	a.mu.Lock()
	delete(a.marked, p)
	a.mu.Unlock()
	logger.Debugf("recording feed partition %d/%d as active: %s (the sweeps read it)", p.Bucket, p.Shard, err)
}
