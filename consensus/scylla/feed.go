package scylla

import (
	"context"
	"errors"
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
	// and need a full repair. Called with mu held: it must not block.
	onGap func(from, to time.Time)
	// swept is closed once a sweep has read the last 2W: every change
	// visible before the peer started has been seen (see sweptOnce).
	swept     chan struct{}
	sweptOnce sync.Once

	// firstPoll: a first start whose first read has not happened yet
	// (see firstRead).
	firstPoll bool
	// floor: the events with an ID time before it are never read; they
	// were left to the first start's recover pass (see firstRead).
	floor time.Time

	mu        sync.Mutex // one read of the feed at a time
	cursors   map[scyllastate.Partition]scyllastate.EventID
	position  time.Time // every event with an ID time before it is applied
	lastFresh time.Time
	lastSweep time.Time
	lastSaved time.Time
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
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.firstPoll {
		return f.firstRead(ctx, now)
	}
	found, err := f.fresh(ctx, now)
	if err != nil {
		f.metrics.pollError()
		return 0, err
	}
	if now.Sub(f.lastSweep) >= f.cfg.overlap {
		if err := f.sweep(ctx, now, now.Add(-f.cfg.overlap)); err != nil {
			f.metrics.pollError()
			return found, err
		}
	}
	if now.Sub(f.lastSaved) >= f.cfg.checkpointInterval {
		f.saveCheckpoint(ctx)
	}
	return found, nil
}

// fresh reads the events written since the last fresh read, partition by
// partition.
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
	start := scyllastate.MinEventID(maxTime(f.position.Add(-f.cfg.overlap), f.floor))
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
// (readSpan).
func (f *feed) sweep(ctx context.Context, now, to time.Time) error {
	from := now.Add(-2 * f.cfg.overlap)
	if !f.position.IsZero() && f.position.Before(from) {
		from = f.position
	}
	from = maxTime(from, f.floor)
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
	if pos := now.Add(-f.cfg.overlap); pos.After(f.position) {
		f.position = pos
	}
	f.apply.forget(now.Add(-4 * f.cfg.overlap))
	f.sweptOnce.Do(func() { close(f.swept) })
	return nil
}

// errBurst stops the count of a burst (see burstOver).
var errBurst = errors.New("more changes than a first read applies")

// firstRead is the first poll of a first start: a fresh read and a sweep
// of the last 2W, so that a burst of changes made just before this start
// is seen before the first start's recover pass begins, and covered by it
// (see upkeep.overflowPass). A burst larger than burstLimit changes (an
// import of millions just before this start, which every new peer would
// read at once, for pins it could hold neither in the tracker queue nor
// in the deferred set) is not read: the changes before now are left to
// the recover pass, which reads their rows once they are written, and
// the feed reads from now on (floor).
func (f *feed) firstRead(ctx context.Context, now time.Time) (int64, error) {
	if f.cfg.burstLimit > 0 {
		over, err := f.burstOver(ctx, now.Add(-2*f.cfg.overlap), now, f.cfg.burstLimit)
		if err != nil {
			f.metrics.pollError()
			return 0, err
		}
		if over {
			f.skipBurst(now)
			f.firstPoll = false
			f.saveCheckpoint(ctx)
			return 0, nil
		}
	}
	found, err := f.fresh(ctx, now)
	if err == nil {
		err = f.sweep(ctx, now, now)
	}
	if err != nil {
		f.metrics.pollError()
		return found, err
	}
	f.firstPoll = false
	if now.Sub(f.lastSaved) >= f.cfg.checkpointInterval {
		f.saveCheckpoint(ctx)
	}
	return found, nil
}

// burstOver tells whether the feed holds more than limit events with an
// ID time in [from, to]. It reads at most limit+1 of them, and applies
// none.
func (f *feed) burstOver(ctx context.Context, from, to time.Time, limit int64) (bool, error) {
	parts, err := f.store.Partitions(ctx, from, to)
	if err != nil {
		return false, fmt.Errorf("counting the changes made just before this first start: %w", err)
	}
	lo, hi := scyllastate.MinEventID(from), scyllastate.MaxEventID(to)
	var n int64
	for _, g := range groupParts(parts, wholeBuckets) {
		err := f.store.ReadPartitions(ctx, g, func(scyllastate.Partition) scyllastate.EventID { return lo }, hi,
			func(scyllastate.Partition, scyllastate.Event) error {
				if n++; n > limit {
					return errBurst
				}
				return nil
			})
		switch {
		case errors.Is(err, errBurst):
			return true, nil
		case err != nil:
			return false, fmt.Errorf("counting the changes made just before this first start: %w", err)
		}
	}
	return false, nil
}

// skipBurst leaves the changes made before now to the first start's
// recover pass: the feed never reads them (floor), and the pass starts
// once their rows are written. Every such change is visible by now+W
// (its ID time is before now); its row is written within W after (see
// overflow), which the pass waits for as for pins kept nowhere.
func (f *feed) skipBurst(now time.Time) {
	f.floor = now
	clear(f.cursors)
	f.lastFresh, f.lastSweep = now, now
	f.readUpTo.Store(now.UnixNano())
	f.apply.overflow.unread(now.Add(f.cfg.overlap))
	logger.Infof("first start just after a burst of changes: more than %d in the change feed's last %s; "+
		"the changes made before %s are left to the first start's recover pass, which reads their rows once they are written (in %s)",
		f.cfg.burstLimit, 2*f.cfg.overlap, now.Format(time.RFC3339), 2*f.cfg.overlap)
	f.sweptOnce.Do(func() { close(f.swept) })
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

// catchUp applies the changes made since the saved position, then
// sweeps. It returns false when this peer has no position: it never read
// this feed (first start). A position older than event_retention is
// reported to onGap: the changes before are gone from the feed.
func (f *feed) catchUp(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pos, ok, err := f.store.Checkpoint(ctx, f.cfg.reader)
	if err != nil {
		return false, err
	}
	now := f.now()
	if !ok {
		// A first start: the first poll sweeps at once (lastSweep W
		// ago), so that the changes of the last 2W (a burst just before
		// this start) are seen before the first start's recover pass
		// begins, and covered by it (see upkeep.overflowPass and
		// firstRead).
		f.position, f.lastSweep, f.lastFresh = now, now.Add(-f.cfg.overlap), now
		f.firstPoll = true
		f.readUpTo.Store(now.UnixNano())
		f.saveCheckpoint(ctx)
		return false, nil
	}
	start := time.Now()
	from := pos.Add(-f.cfg.overlap)
	if oldest := now.Add(-f.cfg.retention); from.Before(oldest) {
		f.gap(from, oldest)
		from = oldest
	}
	logger.Infof("catching up with the pin changes made since %s", from.Format(time.RFC3339))
	total, err := f.readSpan(ctx, from, now, balancedGroups, "catching up with the change feed")
	if err != nil {
		return true, err
	}
	f.readUpTo.Store(now.UnixNano())
	// Every event up to now was read after now: those older than now-W
	// were visible.
	f.position = maxTime(from, now.Add(-f.cfg.overlap))
	now = f.now()
	if err := f.sweep(ctx, now, now); err != nil {
		return true, fmt.Errorf("catching up with the change feed: %w", err)
	}
	f.lastFresh = now
	f.readUpTo.Store(now.UnixNano())
	f.saveCheckpoint(ctx)
	f.metrics.caughtUp(time.Since(start))
	logger.Infof("caught up in %s: %d changes read", time.Since(start).Round(time.Millisecond), total)
	return true, nil
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

// run reads the feed until ctx ends: when woken up (a hint), at once or
// at the end of wakeGap after the previous read, else every pollInterval
// while it finds changes; reads that find none back off to idlePolls
// times pollInterval (at most half of the overlap), so that an idle peer
// costs the database little. Hints keep a busy cluster at full speed,
// and wakeGap bounds what they cost: however many peers send them, a
// peer reads at most once per gap.
func (f *feed) run(ctx context.Context) {
	maxInterval := min(idlePolls*f.cfg.pollInterval, max(f.cfg.overlap/2, f.cfg.pollInterval))
	gap := min(wakeGap, f.cfg.pollInterval)
	interval := f.cfg.pollInterval
	t := time.NewTimer(interval)
	defer t.Stop()
	var last time.Time // when the last read started
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.wake:
			interval = f.cfg.pollInterval
			if wait := gap - time.Since(last); wait > 0 {
				// Woken within the gap: read at its end, once for
				// every hint that comes until then.
				resetTimer(t, wait)
				continue
			}
		}
		last = time.Now()
		found, err := f.pollCount(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%60 == 0 {
				logger.Warnf("reading the change feed failed %d time(s), retrying: %s", failures, err)
			}
			interval = f.cfg.pollInterval
		case found > 0:
			interval = f.cfg.pollInterval
		default:
			interval = min(2*interval, maxInterval)
		}
		if err == nil && failures > 0 {
			logger.Infof("reading the change feed works again after %d failure(s)", failures)
			failures = 0
		}
		resetTimer(t, interval)
	}
}

// resetTimer makes t fire after d, whether or not it has fired.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// idlePolls bounds the back-off of reads that find nothing.
const idlePolls = 10

// wakeGap is the shortest time between two reads of a peer that hints
// wake up (at most poll_interval). Every peer that adds pins sends hints
// (one per hintGap at most), and every peer reads on them: without a gap,
// busy peers would make every peer read back to back, and the database's
// load would grow with the number of peers times the hints each receives.
// With it, a peer reads at most 1/wakeGap times a second, and a change
// waits at most wakeGap longer.
const wakeGap = 200 * time.Millisecond

// saveCheckpoint records the position; the caller holds f.mu.
func (f *feed) saveCheckpoint(ctx context.Context) {
	if f.position.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.timeout)
	defer cancel()
	if err := f.store.SaveCheckpoint(ctx, f.cfg.reader, f.position); err != nil {
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
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saveCheckpoint(ctx)
}

// lag is how far behind now the feed has been read.
func (f *feed) lag() time.Duration {
	return f.now().Sub(time.Unix(0, f.readUpTo.Load()))
}
