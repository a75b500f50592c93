package scylla

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// feedStore is what the feed reads and writes of the shared store's
// change feed (scyllastate.Feed).
type feedStore interface {
	Partitions(ctx context.Context, from, to time.Time) ([]scyllastate.Partition, error)
	ActivePartitions(ctx context.Context, from, to time.Time) ([]scyllastate.Partition, error)
	ReadPartitions(ctx context.Context, parts []scyllastate.Partition, after func(scyllastate.Partition) scyllastate.EventID, upTo scyllastate.EventID, fn func(scyllastate.Partition, scyllastate.Event) error) error
	Checkpoint(ctx context.Context, reader string) (time.Time, bool, error)
	SaveCheckpoint(ctx context.Context, reader string, pos time.Time) error
}

// readMetrics is what the feed records (feedMetrics).
type readMetrics interface {
	pollError()
	caughtUp(d time.Duration)
}

// feedSettings are the settings the feed needs.
type feedSettings struct {
	reader             string        // this peer's ID: the checkpoint's key
	overlap            time.Duration // W: the most an event can be late
	pollInterval       time.Duration // fresh reads when no hint comes
	checkpointInterval time.Duration
	concurrency        int           // events applied in parallel
	readConcurrency    int           // partitions read in parallel
	retention          time.Duration // how long events are kept
	timeout            time.Duration // of one database call
	// burstLimit is the most changes the first read of a first start
	// reads (0: no limit); see firstRead.
	burstLimit int64
}

// feed reads the change feed and applies every change to this peer's
// tracker, through the applier. See the package documentation for the
// design; in short:
//
//   - a fresh read, every pollInterval or at once on a hint, reads the
//     partitions of the current minute that the activity index names,
//     each after the last event it read there: new events only;
//   - a sweep, every W (feed_overlap), re-reads every partition of the
//     feed from the position to now-W ([now-2W, now-W] on time): an
//     event is visible at most W after its ID time (the write deadline
//     and clock skew), so every event is read by one sweep, however many
//     reads failed before; then every event with an ID older than now-W
//     is applied: that is the position, saved as checkpoint;
//   - at start, a catch-up reads everything since the checkpoint, a
//     few minutes at a time.
type feed struct {
	store   feedStore
	apply   *applier
	cfg     feedSettings
	metrics readMetrics
	now     func() time.Time

	wake chan struct{}
	// onSave is told the time of each saved checkpoint (metrics).
	onSave func(time.Time)
	// onGap is told when the feed must start reading later than its
	// position because the events before are gone (older than
	// event_retention): the changes of [from, to) are lost to the feed
	// and need a full repair. Called by a sweep or a catch-up: it must
	// not block.
	onGap func(from, to time.Time)
	// swept is closed once a sweep has read the last 2W: every change
	// visible before the peer started has been seen (see sweptOnce).
	swept     chan struct{}
	sweptOnce sync.Once

	// readMu is held by a fresh read, sweepMu by a sweep: a long sweep
	// (a burst of changes to re-read, reads that failed for long) never
	// holds up the fresh reads, which run beside it (see run). A first
	// read and a catch-up hold both, readMu first. mu guards the fields
	// both use, for a moment; saveMu orders the checkpoint writes.
	readMu    sync.Mutex
	cursors   map[scyllastate.Partition]scyllastate.EventID // readMu
	lastFresh time.Time                                     // readMu
	sweepMu   sync.Mutex
	lastSweep time.Time // sweepMu
	mu        sync.Mutex
	position  time.Time // mu: every event with an ID time before it is applied
	// floor: the events with an ID time before it are never read; they
	// were left to the first start's recover pass (see firstRead). mu.
	floor time.Time
	// firstPoll: a first start whose first read has not happened yet
	// (see firstRead). mu.
	firstPoll bool
	saveMu    sync.Mutex
	lastSaved time.Time    // saveMu
	readUpTo  atomic.Int64 // unix nanoseconds: the feed is read up to here
}

// newFeed returns the reader of the change feed of store, which applies
// the changes through a; m may be nil (nothing recorded).
func newFeed(store feedStore, a *applier, cfg feedSettings, m readMetrics) *feed {
	if m == nil {
		m = noMetrics{}
	}
	return &feed{
		store:   store,
		apply:   a,
		cfg:     cfg,
		metrics: m,
		now:     time.Now,
		wake:    make(chan struct{}, 1),
		swept:   make(chan struct{}),
		cursors: map[scyllastate.Partition]scyllastate.EventID{},
	}
}

// wakeUp asks for a fresh read now.
func (f *feed) wakeUp() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// trusted tells whether an event can be applied on its own word: its
// change was issued when its event was (a re-announced or repaired change
// carries an older write timestamp and is settled against the row). A
// write timestamp ahead of the ID time is fine: writers stamp changes
// with a hybrid logical clock, after every timestamp they read.
func (f *feed) trusted(e scyllastate.Event) bool {
	return e.WriteTime >= e.Time().Add(-2*f.cfg.overlap).UnixMicro()
}

// handle applies one event.
func (f *feed) handle(ctx context.Context, e scyllastate.Event) error {
	if e.Legacy {
		return f.apply.settle(ctx, e)
	}
	var pin = e.Pin
	if e.Op == scyllastate.OpUnpin {
		pin = nil
	}
	out, err := f.apply.apply(ctx, e.Cid, e.WriteTime, pin, f.trusted(e))
	if err != nil || out != unsure {
		return err
	}
	return f.apply.settle(ctx, e)
}

// wholeBuckets reads all the partitions of a bucket with one query: the
// fresh reads and the sweeps, which find few events, cost the database
// one query per bucket however many partitions it has.
const wholeBuckets = 0

// balancedGroups asks readSpan for groups that keep every reader busy.
const balancedGroups = -1

// groupParts cuts partitions (in bucket order) into the groups read by
// one query each: perQuery partitions of one bucket, or whole buckets.
func groupParts(parts []scyllastate.Partition, perQuery int) [][]scyllastate.Partition {
	var out [][]scyllastate.Partition
	for i := 0; i < len(parts); {
		j := i + 1
		for j < len(parts) && parts[j].Bucket == parts[i].Bucket && (perQuery == wholeBuckets || j-i < perQuery) {
			j++
		}
		out = append(out, parts[i:j])
		i = j
	}
	return out
}

// balanced is the group size that gives every reader a query: for long
// reads (a catch-up) of busy buckets.
func (f *feed) balanced(parts []scyllastate.Partition) int {
	r := max(f.cfg.readConcurrency, 1)
	return max(1, (len(parts)+r-1)/r)
}

// read reads groups of partitions (one query each, see groupParts) and
// applies their events: groups in parallel, the events of one CID by one
// worker in feed order, different CIDs in parallel. It returns the number
// of events read.
func (f *feed) read(ctx context.Context, groups [][]scyllastate.Partition, after func(scyllastate.Partition) scyllastate.EventID, upTo scyllastate.EventID, seen func(scyllastate.Partition, scyllastate.EventID)) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		count    atomic.Int64
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }

	workers := max(f.cfg.concurrency, 1)
	queues := make([]chan scyllastate.Event, workers)
	for i := range queues {
		queues[i] = make(chan scyllastate.Event, 256)
		wg.Add(1)
		go func(q <-chan scyllastate.Event) {
			defer wg.Done()
			for e := range q {
				if ctx.Err() != nil {
					continue
				}
				if err := f.handle(ctx, e); err != nil {
					fail(fmt.Errorf("applying the change of %s (event %s): %w", e.Cid, e.ID, err))
				}
			}
		}(queues[i])
	}
	seed := maphash.MakeSeed()
	var seenMu sync.Mutex
	work := make(chan []scyllastate.Partition)
	var readers sync.WaitGroup
	for range max(f.cfg.readConcurrency, 1) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for g := range work {
				last := map[scyllastate.Partition]scyllastate.EventID{}
				err := f.store.ReadPartitions(ctx, g, after, upTo, func(p scyllastate.Partition, e scyllastate.Event) error {
					count.Add(1)
					last[p] = e.ID
					select {
					case queues[maphash.String(seed, e.Cid.KeyString())%uint64(workers)] <- e:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if err != nil {
					fail(err)
					continue
				}
				if seen != nil && len(last) > 0 {
					seenMu.Lock()
					for p, id := range last {
						seen(p, id)
					}
					seenMu.Unlock()
				}
			}
		}()
	}
feed:
	for _, g := range groups {
		select {
		case work <- g:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	readers.Wait()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if firstErr != nil {
		return count.Load(), firstErr
	}
	return count.Load(), ctx.Err()
}

// poll does a fresh read and, when due, a sweep. On error nothing moves
// forward, so the next poll reads the same events again.
func (f *feed) poll(ctx context.Context) error {
	_, err := f.pollCount(ctx)
	return err
}

// pollCount is poll, returning the number of new events read.
func (f *feed) pollCount(ctx context.Context) (int64, error) {
	found, err := f.step(ctx)
	if err != nil {
		return found, err
	}
	return found, f.sweepIfDue(ctx)
}

// step is one read of the fresh loop: the first read of a first start,
// else a fresh read.
func (f *feed) step(ctx context.Context) (int64, error) {
	if f.isFirstPoll() {
		return f.firstRead(ctx)
	}
	f.readMu.Lock()
	defer f.readMu.Unlock()
	now := f.now()
	found, err := f.fresh(ctx, now)
	if err != nil {
		f.metrics.pollError()
		return 0, err
	}
	f.saveIfDue(ctx, now)
	return found, nil
}

// sweepIfDue sweeps when the last sweep is W old (and the first read of
// a first start, which decides what the sweeps read, is done).
func (f *feed) sweepIfDue(ctx context.Context) error {
	f.sweepMu.Lock()
	defer f.sweepMu.Unlock()
	now := f.now()
	if f.isFirstPoll() || now.Sub(f.lastSweep) < f.cfg.overlap {
		return nil
	}
	if err := f.sweep(ctx, now, now.Add(-f.cfg.overlap)); err != nil {
		f.metrics.pollError()
		return err
	}
	f.saveIfDue(ctx, now)
	return nil
}

// untilSweep is the time left until the next sweep is due.
func (f *feed) untilSweep() time.Duration {
	if f.isFirstPoll() {
		return f.cfg.pollInterval
	}
	f.sweepMu.Lock()
	defer f.sweepMu.Unlock()
	return f.lastSweep.Add(f.cfg.overlap).Sub(f.now())
}

func (f *feed) isFirstPoll() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.firstPoll
}

// bounds returns the position and the floor.
func (f *feed) bounds() (position, floor time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.position, f.floor
}

// advance moves the position forward to pos.
func (f *feed) advance(pos time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pos.After(f.position) {
		f.position = pos
	}
}

// fresh reads the events written since the last fresh read, partition by
// partition. The caller holds readMu.
func (f *feed) fresh(ctx context.Context, now time.Time) (int64, error) {
	// New events only: after a long failure the sweep reads the rest.
	from := maxTime(f.lastFresh.Add(-2*time.Second), now.Add(-2*f.cfg.overlap))
	if f.lastFresh.IsZero() {
		from = now
	}
	// Only the partitions the activity index names: an idle poll is one
	// small read. One the index misses is read by the next sweep.
	parts, err := f.store.ActivePartitions(ctx, from, now)
	if err != nil {
		return 0, err
	}
	pos, floor := f.bounds()
	start := scyllastate.MinEventID(maxTime(pos.Add(-f.cfg.overlap), floor))
	after := func(p scyllastate.Partition) scyllastate.EventID {
		if c, ok := f.cursors[p]; ok {
			return c
		}
		return start
	}
	fresh := map[scyllastate.Partition]scyllastate.EventID{}
	n, err := f.read(ctx, groupParts(parts, wholeBuckets), after, scyllastate.MaxEventID(now), func(p scyllastate.Partition, last scyllastate.EventID) { fresh[p] = last })
	if err != nil {
		return 0, err
	}
	for p, id := range fresh {
		f.cursors[p] = id
	}
	oldest := bucketOf(from)
	for p := range f.cursors {
		if p.Bucket < oldest {
			delete(f.cursors, p)
		}
	}
	f.lastFresh = now
	f.readUpTo.Store(now.UnixNano())
	return n, nil
}

// sweep re-reads the feed from the position (at most event_retention
// back) to `to`, then moves the position to now-W and forgets the claims
// no event still to come can need. Every event before the position is
// applied, and an event is visible at most W after its ID time: at now,
// every event with an ID time before now-W is visible, so reading from
// the position to now-W leaves no event unread, however long the reads
// failed before. On time (every W), a sweep reads [now-2W, now-W]: each
// event is re-read by one sweep, once it is settled (the fresh reads
// read the newer ones). The sweeps of a catch-up and of a first start
// read up to now (to = now), so that nothing made before the start waits
// for the next sweep. A long span is read a few minutes at a time
// (readSpan). The caller holds sweepMu.
func (f *feed) sweep(ctx context.Context, now, to time.Time) error {
	pos, floor := f.bounds()
	from := now.Add(-2 * f.cfg.overlap)
	if !pos.IsZero() && pos.Before(from) {
		from = pos
	}
	from = maxTime(from, floor)
	if oldest := now.Add(-f.cfg.retention); from.Before(oldest) {
		f.gap(from, oldest)
		from = oldest
	}
	if from.Before(to) {
		if _, err := f.readSpan(ctx, from, to, wholeBuckets, "re-reading the change feed"); err != nil {
			return err
		}
	}
	f.lastSweep = now
	f.advance(now.Add(-f.cfg.overlap))
	f.apply.forget(now.Add(-4 * f.cfg.overlap))
	f.sweptOnce.Do(func() { close(f.swept) })
	return nil
}

// gap reports that the events of [from, to) are gone: they were not read
// within event_retention.
func (f *feed) gap(from, to time.Time) {
	logger.Warnf("the change feed was last read up to %s, longer ago than state.scyllastate.event_retention (%s): "+
		"the changes made before %s are no longer in the feed, so the whole pinset is repaired; "+
		"CIDs unpinned before then left no marker and may stay pinned in this peer's IPFS daemon",
		from.Format(time.RFC3339), f.cfg.retention, to.Format(time.RFC3339))
	if f.onGap != nil {
		f.onGap(from, to)
	}
}

// readSpan reads and applies the events with an ID time in [from, to],
// catchUpChunk minutes at a time, their partitions read in parallel;
// claims older than any event still to come are forgotten after each
// chunk, so memory follows the rate of changes, not the span. perQuery is
// the partitions read by one query (wholeBuckets or balancedGroups).
// Progress is
// logged every 10s under the label what. It returns the number of events
// read.
func (f *feed) readSpan(ctx context.Context, from, to time.Time, perQuery int, what string) (int64, error) {
	var total int64
	lastLog := time.Now()
	for b := scyllastate.BucketStart(bucketOf(from)); !b.After(to); b = b.Add(catchUpChunk * scyllastate.BucketWidth) {
		end := b.Add(catchUpChunk*scyllastate.BucketWidth - time.Nanosecond)
		if end.After(to) {
			end = to
		}
		lo := scyllastate.MinEventID(maxTime(b, from))
		parts, err := f.store.Partitions(ctx, maxTime(b, from), end)
		if err != nil {
			return total, fmt.Errorf("%s at %s: %w", what, b.Format(time.RFC3339), err)
		}
		per := perQuery
		if per < 0 {
			per = f.balanced(parts)
		}
		n, err := f.read(ctx, groupParts(parts, per), func(scyllastate.Partition) scyllastate.EventID { return lo }, scyllastate.MaxEventID(end), nil)
		if err != nil {
			return total, fmt.Errorf("%s at %s: %w", what, b.Format(time.RFC3339), err)
		}
		total += n
		if end.Before(to) {
			f.apply.forget(b.Add(-2 * f.cfg.overlap))
			if time.Since(lastLog) > 10*time.Second {
				logger.Infof("%s: %d changes read, up to %s", what, total, end.Format(time.RFC3339))
				lastLog = time.Now()
			}
		}
	}
	return total, nil
}

// catchUpChunk is the number of feed buckets (minutes) a catch-up reads
// at once.
const catchUpChunk = 8

func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(scyllastate.BucketWidth) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// saveIfDue records the position when the last save is
// checkpoint_interval old.
func (f *feed) saveIfDue(ctx context.Context, now time.Time) {
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	if now.Sub(f.lastSaved) >= f.cfg.checkpointInterval {
		f.saveLocked(ctx)
	}
}

// saveCheckpoint records the position.
func (f *feed) saveCheckpoint(ctx context.Context) {
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	f.saveLocked(ctx)
}

// saveLocked records the position; the caller holds saveMu, so that the
// saved positions only move forward.
func (f *feed) saveLocked(ctx context.Context) {
	pos, _ := f.bounds()
	if pos.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.timeout)
	defer cancel()
	if err := f.store.SaveCheckpoint(ctx, f.cfg.reader, pos); err != nil {
		logger.Warnf("%s", err)
		return
	}
	f.lastSaved = f.now()
	if f.onSave != nil {
		f.onSave(f.lastSaved)
	}
}

// close saves the position a last time.
func (f *feed) close(ctx context.Context) {
	f.saveCheckpoint(ctx)
}

// lag is how far behind now the feed has been read.
func (f *feed) lag() time.Duration {
	return f.now().Sub(time.Unix(0, f.readUpTo.Load()))
}
