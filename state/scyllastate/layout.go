package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// The layout of the change feed: how many partitions each bucket (minute)
// has. The keyspace records it in feed_layout, one row per change: from
// the bucket from_bucket on, `partitions` partitions per bucket. Writers
// put an event in partition hash(CID) mod the partitions of its bucket;
// readers read every partition of a bucket. Both must agree on each
// bucket's count, without a lightweight transaction, so:
//
//   - a change only ever applies to buckets that start at least
//     layoutLead after it is scheduled (ScheduleEventPartitions), and the
//     rows of past buckets never change;
//   - every store re-reads the layout every layoutRefresh, and before it
//     writes or reads a bucket that starts later than the layout it
//     holds was read plus layoutLead/2 (the other half is the clock skew
//     between the peer that scheduled the change and this one), it reads
//     it again. So a store never uses a count for a bucket that a
//     scheduled change may still alter.
//
// Two rows of the same bucket (two peers creating the keyspace at once
// with different settings) resolve to the larger count: every partition a
// writer of the smaller count uses is read by readers of the larger one,
// and readers of the smaller count learn of the larger within
// layoutRefresh, before the next sweep of the feed re-reads the buckets
// they read (feed_overlap is longer than layoutRefresh).

const (
	// legacyEventPartitions is the count of keyspaces without a layout
	// row: schema versions 1 to 3 had 4 partitions per bucket.
	legacyEventPartitions = LegacyEventPartitions
	// layoutLead is how far ahead a change of the layout is scheduled.
	layoutLead = 10 * time.Minute
	// layoutRefresh is how often a store re-reads the layout.
	layoutRefresh = 30 * time.Second
)

// LegacyEventPartitions is the number of change-feed partitions per
// minute of a keyspace that records no layout (made by schema versions 1
// to 3, or under schema_mode "check" without a feed_layout row).
const LegacyEventPartitions = 4

// ErrLayout is returned when the layout of the change feed cannot be read
// recently enough to write or read a bucket safely.
var ErrLayout = errors.New("the change feed layout is not known")

// LayoutEntry is one row of the feed layout: from From on, Partitions
// partitions per minute.
type LayoutEntry struct {
	From       time.Time
	Partitions int
}

type layoutRow struct {
	from       int64 // bucket
	partitions int
}

// feedLayout is the layout as read at readAt. rows are sorted by from,
// newest first, one per bucket (the largest count).
type feedLayout struct {
	rows   []layoutRow
	readAt time.Time
}

// at returns the partitions of a bucket.
func (l *feedLayout) at(bucket int64) int {
	for _, r := range l.rows {
		if r.from <= bucket {
			return r.partitions
		}
	}
	return legacyEventPartitions
}

// validThrough is the last bucket whose count this layout knows for sure:
// a change scheduled after readAt applies from readAt+layoutLead on, less
// half of it for clock skew.
func (l *feedLayout) validThrough() int64 {
	return bucketOf(l.readAt.Add(layoutLead/2)) - 1
}

// entries returns the rows, oldest first.
func (l *feedLayout) entries() []LayoutEntry {
	out := make([]LayoutEntry, 0, len(l.rows))
	for i := len(l.rows) - 1; i >= 0; i-- {
		out = append(out, LayoutEntry{From: BucketStart(l.rows[i].from), Partitions: l.rows[i].partitions})
	}
	return out
}

// partitionOf returns the feed partition of a CID in a bucket of n
// partitions. With 4 it is the partition of schema versions 1 to 3.
func partitionOf(cid []byte, n int) int8 {
	h := fnv.New32a()
	_, _ = h.Write(cid)
	return int8(h.Sum32() % uint32(n))
}

// layoutCache holds the layout a store uses, refreshed in the background.
type layoutCache struct {
	db      *db
	cur     atomic.Pointer[feedLayout]
	mu      sync.Mutex // one read at a time
	stop    context.CancelFunc
	stopped chan struct{}
}

// newLayoutCache builds the layout cache of a store; load reads it.
func newLayoutCache(d *db) *layoutCache {
	return &layoutCache{db: d, stopped: make(chan struct{})}
}

// load reads the layout from the keyspace.
func (c *layoutCache) load(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	started := time.Now()
	iter := c.db.session.Query(c.db.stmts.layout, schemaComponent).WithContext(ctx).Consistency(c.db.meta).Iter()
	byBucket := map[int64]int{}
	var from int64
	var n int
	for iter.Scan(&from, &n) {
		if n >= 1 && n <= MaxEventPartitions && n > byBucket[from] {
			byBucket[from] = n
		}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("%w: reading %s.%s: %w", ErrLayout, c.db.cfg.Keyspace, layoutTable, err)
	}
	l := &feedLayout{readAt: started}
	for b, n := range byBucket {
		l.rows = append(l.rows, layoutRow{from: b, partitions: n})
	}
	sort.Slice(l.rows, func(i, j int) bool { return l.rows[i].from > l.rows[j].from })
	if old := c.cur.Load(); old != nil && !sameRows(old.rows, l.rows) {
		logger.Infof("the change feed layout of keyspace %q changed: %s", c.db.cfg.Keyspace, describeLayout(l))
	}
	c.cur.Store(l)
	return nil
}

func sameRows(a, b []layoutRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describeLayout renders a layout for the log.
func describeLayout(l *feedLayout) string {
	if len(l.rows) == 0 {
		return fmt.Sprintf("%d partitions per minute (no layout recorded: the layout of schema versions 1 to 3)", legacyEventPartitions)
	}
	s := ""
	for i, e := range l.entries() {
		if i > 0 {
			s += ", then "
		}
		if e.From.Unix() <= 0 {
			s += fmt.Sprintf("%d partitions per minute", e.Partitions)
		} else {
			s += fmt.Sprintf("%d from %s", e.Partitions, e.From.UTC().Format(time.RFC3339))
		}
	}
	return s
}

// forBuckets returns a layout that knows the counts of buckets up to
// last, reading it again when the one held is too old.
func (c *layoutCache) forBuckets(ctx context.Context, last int64) (*feedLayout, error) {
	if l := c.cur.Load(); l != nil && last <= l.validThrough() {
		return l, nil
	}
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	l := c.cur.Load()
	if last > l.validThrough() {
		return nil, fmt.Errorf("%w: bucket %s is too far ahead of this peer's clock", ErrLayout, BucketStart(last).UTC().Format(time.RFC3339))
	}
	return l, nil
}

// current returns the layout held, without reading.
func (c *layoutCache) current() *feedLayout {
	if l := c.cur.Load(); l != nil {
		return l
	}
	return &feedLayout{}
}

// start re-reads the layout every layoutRefresh until close.
func (c *layoutCache) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	go func() {
		defer close(c.stopped)
		t := time.NewTicker(layoutRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rctx, rcancel := context.WithTimeout(ctx, c.db.cfg.Timeout)
				if err := c.load(rctx); err != nil && ctx.Err() == nil {
					logger.Warnf("re-reading the change feed layout: %s", err)
				}
				rcancel()
			}
		}
	}()
}

func (c *layoutCache) close() {
	if c.stop != nil {
		c.stop()
		<-c.stopped
	}
}

// insertLayout records a layout row in every data center: at EACH_QUORUM
// when the keyspace spans data centers (NetworkTopologyStrategy), so that
// the LOCAL_QUORUM reads of every peer see it; QUORUM otherwise; or at
// the configured consistency when that is weaker (a one-replica setup).
func (c *layoutCache) insertLayout(ctx context.Context, from int64, n int) error {
	cons := c.db.meta
	if cons == gocql.LocalQuorum {
		cons = gocql.Quorum
		var repl map[string]string
		err := c.db.session.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", c.db.cfg.Keyspace).
			WithContext(ctx).Consistency(gocql.LocalOne).Scan(&repl)
		if err != nil {
			return fmt.Errorf("reading the replication of keyspace %q: %w", c.db.cfg.Keyspace, err)
		}
		if strings.Contains(repl["class"], "NetworkTopologyStrategy") {
			cons = gocql.EachQuorum
		}
	}
	err := c.db.session.Query(c.db.stmts.insertLayout, schemaComponent, from, n).WithContext(ctx).Consistency(cons).Exec()
	if err != nil {
		return fmt.Errorf("recording the change feed layout (%d partitions per minute): %w", n, err)
	}
	return nil
}

// checkLayoutSetting says in the log when the layout in use differs from
// the event_partitions setting.
func (c *layoutCache) checkLayoutSetting() {
	l := c.current()
	now := bucketOf(time.Now())
	cur := l.at(now)
	next := cur
	if len(l.rows) > 0 && l.rows[0].from > now {
		next = l.rows[0].partitions
	}
	if next != c.db.cfg.EventPartitions {
		logger.Warnf("state.scyllastate.event_partitions is %d but keyspace %q records %s: the keyspace's layout is used; "+
			"to change it run `ipfs-cluster-service scylla event-partitions %d` once, or set event_partitions to %d",
			c.db.cfg.EventPartitions, c.db.cfg.Keyspace, describeLayout(l), c.db.cfg.EventPartitions, next)
		return
	}
	logger.Infof("change feed of keyspace %q: %s", c.db.cfg.Keyspace, describeLayout(l))
}
