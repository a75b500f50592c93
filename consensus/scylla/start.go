package scylla

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/pstoremgr"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// New returns a Scylla-backed consensus. It returns at once: connecting
// (retried while the database is unreachable, up to cfg.ReadyTimeout),
// the schema check and the catch-up with the change feed run in the
// background, and Ready is closed when they are done. psub may be nil: the
// peers then learn of changes by polling only. stateCfg is validated by
// scyllastate.New.
func New(h host.Host, psub *pubsub.PubSub, cfg *Config, stateCfg *scyllastate.Config, opts ...scyllastate.Option) (*Consensus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkAgainst(stateCfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Consensus{
		ctx:      ctx,
		cancel:   cancel,
		cfg:      cfg,
		stateCfg: stateCfg,
		opts:     opts,
		host:     h,
		pubsub:   psub,
		peerMgr:  pstoremgr.New(ctx, h, ""),
		rpcReady: make(chan struct{}),
		readyCh:  make(chan struct{}),
		fatal:    make(chan error, 1),
		// calls that need the pinset wait this long for the start
		readyGrace: notReadyGrace,
	}
	for _, p := range cfg.TrustedPeers {
		_ = c.Trust(ctx, p)
	}
	if stateCfg.MetricsEnabled {
		m, err := newFeedMetrics(observations.PromRegistry, c.lag, c.lastCheckpoint, c.deferredPins, c.overflowedPins)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("registering the change feed metrics: %w", err)
		}
		c.metrics = m
	}
	c.metrics.catchingUp()
	c.wg.Add(1)
	go c.setup()
	return c, nil
}

// setup waits for the RPC client, then starts the component: Ready is
// closed when the start is done, Fatal receives the error that ended it.
func (c *Consensus) setup() {
	defer c.wg.Done()
	select {
	case <-c.ctx.Done():
		return
	case <-c.rpcReady:
	}
	if err := c.start(); err != nil {
		if c.ctx.Err() == nil {
			logger.Errorf("cannot start: %s", err)
			c.noteStartError("cannot start", err)
			c.fatal <- err
		}
		return
	}
	logger.Infof("scylla consensus ready: shared pinset in keyspace %q", c.stateCfg.Keyspace)
	close(c.readyCh)
}

// start connects, completes this peer's own unfinished writes, catches up
// with the feed and starts the loops.
func (c *Consensus) start() error {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ReadyTimeout)
	defer cancel()
	self := c.host.ID()
	opts := append([]scyllastate.Option{
		scyllastate.WithRetryUntilDone(),
		scyllastate.WithRetryHint(fmt.Sprintf("the peer waits up to consensus.scylla.ready_timeout=%s", c.cfg.ReadyTimeout)),
		scyllastate.WithWriterID(self.String()),
	}, c.opts...)
	var store *scyllastate.ScyllaState
	err := c.retrying(ctx, "opening the shared pinset", func() error {
		var err error
		store, err = scyllastate.New(ctx, c.stateCfg, opts...)
		return err
	})
	if err != nil {
		return err
	}
	c.store = store
	tracker := &rpcTracker{client: c.rpcClient}
	feed, rows := store.Feed(), newStoreRows(store)
	c.apply = newApplier(self, tracker, rows, c.metrics, c.cfg.PinQueueLimit)
	c.apply.retention = c.stateCfg.EventRetention
	c.applyRef.Store(c.apply)
	c.feed = newFeed(feed, c.apply, feedSettings{
		reader:             self.String(),
		overlap:            c.cfg.FeedOverlap,
		pollInterval:       c.cfg.PollInterval,
		checkpointInterval: c.cfg.CheckpointInterval,
		concurrency:        c.cfg.CatchUpConcurrency,
		readConcurrency:    c.stateCfg.ListConcurrency,
		retention:          c.stateCfg.EventRetention,
		timeout:            c.stateCfg.Timeout,
		// A burst larger than what the peer can hold (tracker queue and
		// deferred set) is left to the first start's recover pass.
		burstLimit: burstLimit(c.cfg.PinQueueLimit),
	}, c.metrics)
	c.feed.onSave = func(t time.Time) { c.savedAt.Store(t.UnixNano()) }

	rd := newRedo(feed, self.String(), c.cfg.FeedOverlap, c.cfg.CheckpointInterval)
	c.upkeep = newUpkeep(self, upkeepSettings{
		slices:            c.cfg.RecoverSlices,
		repairInterval:    c.cfg.RepairInterval,
		readRate:          c.cfg.RepairReadRate,
		recoverInterval:   c.cfg.PinRecoverInterval,
		stateSyncInterval: c.cfg.StateSyncInterval,
		queueLimit:        c.cfg.PinQueueLimit,
		overlap:           c.cfg.FeedOverlap,
		retention:         c.stateCfg.EventRetention,
		timeout:           defaultCallTimeout,
	}, rows, c.apply, &rpcCalls{c: c}, rd)
	c.upkeep.metrics = c.metrics
	c.upkeep.feedSwept = c.feed.swept
	// Events lost to the feed (read later than event_retention) are made
	// up for by a full repair: before Ready at start, in the background
	// after.
	c.feed.onGap = func(from, to time.Time) {
		c.upkeep.requestFull(fmt.Sprintf("the changes made between %s and %s are gone from the change feed",
			from.Format(time.RFC3339), to.Format(time.RFC3339)))
	}
	if err := c.retrying(ctx, "completing this peer's unfinished writes", func() error { return rd.own(ctx) }); err != nil {
		return err
	}
	start := time.Now()
	var returning bool
	err = c.retrying(ctx, "catching up with the change feed", func() error {
		var err error
		returning, err = c.feed.catchUp(ctx)
		return err
	})
	if err != nil {
		return err
	}
	c.firstStart.Store(!returning)
	c.upkeep.firstStart = !returning
	if !returning {
		logger.Infof("first start of this peer on keyspace %q: its pins are queued by a paced recover pass", c.stateCfg.Keyspace)
		c.metrics.caughtUp(time.Since(start))
	}
	if why, ok := c.upkeep.takeFull(); ok {
		// Pins it cannot queue at once wait in the deferred set, tracked
		// after Ready: the repair does not wait for the tracker.
		err := c.retrying(ctx, "repairing the whole pinset (this peer was away longer than state.scyllastate.event_retention; it needs the database and this peer's IPFS daemon)", func() error {
			return c.upkeep.fullPass(ctx, deferring, why+"; before this peer reports ready")
		})
		if err != nil {
			return fmt.Errorf("repairing the whole pinset before ready: %w", err)
		}
	}
	if c.pubsub != nil {
		h, err := newHints(c.pubsub, c.cfg.ClusterName, c.host.ID(), c.IsTrustedPeer)
		if err != nil {
			logger.Warnf("pubsub hints disabled, changes are seen by polling every %s: %s", c.cfg.PollInterval, err)
		} else {
			h.direct = &hintStreams{host: c.host, trusted: c.IsTrustedPeer}
			c.hints = h
			c.wg.Add(1)
			go func() { defer c.wg.Done(); h.run(c.ctx, c.feed.wakeUp) }()
		}
	}
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.feed.run(c.ctx) }()
	go func() { defer c.wg.Done(); c.upkeep.run(c.ctx) }()
	return nil
}

// retrying runs a step of the start until it works, while its errors are
// transient (the database does not answer now: a node or a data center
// down, timeouts), up to ready_timeout (ctx). Other errors end the start
// at once: retrying cannot fix them.
func (c *Consensus) retrying(ctx context.Context, what string, step func() error) error {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		err := step()
		switch {
		case err == nil:
			if attempt > 1 {
				logger.Infof("%s: done after %d attempts", what, attempt)
			}
			return nil
		case ctx.Err() != nil && c.ctx.Err() == nil:
			return fmt.Errorf("%s: not done within consensus.scylla.ready_timeout (%s): %w", what, c.cfg.ReadyTimeout, err)
		case ctx.Err() != nil || !scyllastate.Transient(err):
			return err
		}
		c.noteStartError(what, err)
		logger.Warnf("%s failed (attempt %d), retrying in %s (the peer waits up to consensus.scylla.ready_timeout=%s): %s",
			what, attempt, delay, c.cfg.ReadyTimeout, err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}
