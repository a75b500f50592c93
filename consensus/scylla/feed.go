package scylla

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

// feed reads the change feed of the shared state and applies each change
// to this peer's tracker by re-reading the pin.
type feed struct {
	c     *Consensus
	store *scyllastate.ScyllaState
	self  string
	wake  chan struct{}

	pollMu    sync.Mutex // one read of the feed at a time
	cursor    time.Time  // every event older than cursor-overlap is applied
	seen      map[gocql.UUID]time.Time
	seenMu    sync.Mutex
	lastSaved time.Time
}

func newFeed(c *Consensus) *feed {
	return &feed{
		c:     c,
		store: c.store,
		self:  c.host.ID().String(),
		wake:  make(chan struct{}, 1),
		seen:  map[gocql.UUID]time.Time{},
	}
}

// wakeUp asks for a read of the feed now.
func (f *feed) wakeUp() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// catchUp applies the changes made since this peer's checkpoint.
func (f *feed) catchUp(ctx context.Context) error {
	pos, ok, err := f.store.Checkpoint(ctx, f.self)
	if err != nil {
		return err
	}
	now := time.Now()
	if !ok {
		logger.Infof("first start of this peer on keyspace %q: the pins allocated to it are pinned by the recover run at start",
			f.c.stateCfg.Keyspace)
		f.cursor = now
		f.saveCheckpoint(ctx)
		return nil
	}
	from := pos.Add(-f.c.cfg.FeedOverlap)
	if oldest := now.Add(-f.c.stateCfg.EventRetention); from.Before(oldest) {
		logger.Warnf("this peer last read the change feed at %s, longer ago than state.scyllastate.event_retention (%s): "+
			"pins removed before %s may stay pinned in its IPFS daemon; pins added meanwhile are pinned by the recover run at start",
			pos.Format(time.RFC3339), f.c.stateCfg.EventRetention, oldest.Format(time.RFC3339))
		from = oldest
	}
	logger.Infof("catching up with the pin changes made since %s", from.Format(time.RFC3339))
	n, err := f.process(ctx, from, now, true)
	if err != nil {
		return err
	}
	logger.Infof("caught up: %d changes applied", n)
	f.cursor = now
	f.saveCheckpoint(ctx)
	return nil
}

// run reads the feed every PollInterval, or at once when woken up.
func (f *feed) run(ctx context.Context) {
	t := time.NewTicker(f.c.cfg.PollInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.wake:
		}
		if err := f.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%60 == 0 {
				logger.Warnf("reading the change feed failed %d time(s), retrying: %s", failures, err)
			}
			continue
		}
		if failures > 0 {
			logger.Infof("reading the change feed works again after %d failure(s)", failures)
			failures = 0
		}
	}
}

// poll applies the events since the cursor, re-reading FeedOverlap before
// it. On error the cursor stays, so the next poll retries.
func (f *feed) poll(ctx context.Context) error {
	f.pollMu.Lock()
	defer f.pollMu.Unlock()
	now := time.Now()
	if _, err := f.process(ctx, f.cursor.Add(-f.c.cfg.FeedOverlap), now, false); err != nil {
		return err
	}
	f.cursor = now
	f.forget(now.Add(-f.c.cfg.FeedOverlap - time.Second))
	f.c.applied.forget(now.Add(-2*f.c.cfg.FeedOverlap - time.Minute))
	if now.Sub(f.lastSaved) >= f.c.cfg.CheckpointInterval {
		f.saveCheckpoint(ctx)
	}
	return nil
}

// forget drops the seen events that no read can return again.
func (f *feed) forget(before time.Time) {
	f.seenMu.Lock()
	defer f.seenMu.Unlock()
	for id, t := range f.seen {
		if t.Before(before) {
			delete(f.seen, id)
		}
	}
}

func (f *feed) saveCheckpoint(ctx context.Context) {
	if f.cursor.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.c.stateCfg.Timeout)
	defer cancel()
	if err := f.store.SaveCheckpoint(ctx, f.self, f.cursor); err != nil {
		logger.Warnf("%s", err)
		return
	}
	f.lastSaved = time.Now()
}

// process applies the events written between from and to. Events of one
// CID go to the same worker, in feed order, so the last one applied
// re-reads the pin after the last change. A CID already waiting in its
// worker's queue is not queued again: its pending re-read will see the
// newer change. With logProgress it logs every 10000 events.
func (f *feed) process(ctx context.Context, from, to time.Time, logProgress bool) (int64, error) {
	workers := f.c.cfg.CatchUpConcurrency
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		firstErr error
		errOnce  sync.Once
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }

	queues := make([]chan scyllastate.Event, workers)
	var (
		wg      sync.WaitGroup
		pending sync.Map // CID key -> struct{}: queued, not started
		applied atomic.Int64
	)
	for i := range queues {
		queues[i] = make(chan scyllastate.Event, 256)
		wg.Add(1)
		go func(q <-chan scyllastate.Event) {
			defer wg.Done()
			for e := range q {
				pending.Delete(e.Cid.KeyString())
				if err := f.apply(ctx, e.Cid); err != nil {
					fail(err)
					continue
				}
				f.markSeen(e)
				applied.Add(1)
			}
		}(queues[i])
	}

	seed := maphash.MakeSeed()
	var read int64
	err := f.store.Events(ctx, from, to, func(e scyllastate.Event) error {
		read++
		if logProgress && read%10000 == 0 {
			logger.Infof("change feed: %d events read, up to %s", read, e.Time().Format(time.RFC3339))
		}
		if f.isSeen(e) {
			return nil
		}
		if _, queued := pending.LoadOrStore(e.Cid.KeyString(), struct{}{}); queued {
			f.markSeen(e)
			return nil
		}
		select {
		case queues[maphash.String(seed, e.Cid.KeyString())%uint64(workers)] <- e:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if firstErr != nil {
		err = firstErr
	}
	if err != nil {
		return applied.Load(), fmt.Errorf("applying the change feed: %w", err)
	}
	return applied.Load(), nil
}

func (f *feed) isSeen(e scyllastate.Event) bool {
	f.seenMu.Lock()
	defer f.seenMu.Unlock()
	_, ok := f.seen[e.ID]
	return ok
}

func (f *feed) markSeen(e scyllastate.Event) {
	f.seenMu.Lock()
	f.seen[e.ID] = e.Time()
	f.seenMu.Unlock()
}

// apply makes the tracker follow the current value of a pin: Track when
// it is in the shared state, Untrack when it is not. Only database errors
// are returned; tracker errors are logged (the tracker marks the pin in
// error and the next recover retries it).
func (f *feed) apply(ctx context.Context, c api.Cid) error {
	pin, err := f.store.Get(ctx, c)
	switch {
	case errors.Is(err, state.ErrNotFound):
		if err := f.c.untrack(ctx, api.PinCid(c)); err != nil && ctx.Err() == nil {
			logger.Warnf("untracking %s: %s", c, err)
		}
		return nil
	case err != nil:
		return err
	}
	if err := f.c.track(ctx, pin); err != nil && ctx.Err() == nil {
		logger.Warnf("tracking %s: %s", c, err)
	}
	return nil
}
