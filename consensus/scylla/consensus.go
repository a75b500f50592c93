package scylla

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/pstoremgr"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

var (
	// ErrNoLeader is returned by Leader: there is no leader.
	ErrNoLeader = errors.New("scylla consensus has no leader")
	// ErrRmPeer is returned by RmPeer: the peerset is the set of peers
	// sending metrics, so a peer leaves by stopping.
	ErrRmPeer = errors.New("scylla consensus cannot remove peers: stop the peer instead (the shared pinset is kept)")
	// ErrShutdown is returned by calls made after Shutdown.
	ErrShutdown = errors.New("scylla consensus is shut down")
)

// Consensus implements ipfscluster.Consensus over the shared pinset in a
// CQL database. See the package documentation for the design.
type Consensus struct {
	ctx    context.Context
	cancel context.CancelFunc

	cfg      *Config
	stateCfg *scyllastate.Config
	opts     []scyllastate.Option
	host     host.Host
	pubsub   *pubsub.PubSub
	peerMgr  *pstoremgr.Manager

	trusted sync.Map

	rpcReady  chan struct{}
	rpcClient *rpc.Client

	readyCh chan struct{} // closed once store is set and caught up
	fatal   chan error    // receives an error that stops the start
	store   *scyllastate.ScyllaState
	feed    *feed
	apply   *applier
	upkeep  *upkeep
	hints   *hints
	metrics *feedMetrics
	// firstStart is true when this peer had never read the feed: its
	// pinset is queued by a full, paced recover pass.
	firstStart atomic.Bool
	savedAt    atomic.Int64 // unix nanoseconds of the last checkpoint
	// applyRef is the applier once the store is set (metrics read it
	// from other goroutines).
	applyRef atomic.Pointer[applier]

	wg           sync.WaitGroup
	shutdownOnce sync.Once
}

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
	}
	for _, p := range cfg.TrustedPeers {
		_ = c.Trust(ctx, p)
	}
	if stateCfg.MetricsEnabled {
		m, err := newFeedMetrics(observations.PromRegistry, c.lag, c.lastCheckpoint, c.deferredPins)
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

// SetClient gives the component its RPC client; the start waits for it.
func (c *Consensus) SetClient(client *rpc.Client) {
	c.rpcClient = client
	close(c.rpcReady)
}

// Ready is closed when the peer is connected to the database, the schema
// is checked and the peer has caught up with the changes made while it
// was away.
func (c *Consensus) Ready(ctx context.Context) <-chan struct{} {
	return c.readyCh
}

// Fatal receives the error that made the start give up for good: wrong
// credentials, a TLS failure, a schema the build cannot use. Retrying
// cannot fix it.
func (c *Consensus) Fatal() <-chan error {
	return c.fatal
}

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
		retention:         c.stateCfg.EventRetention,
		timeout:           defaultCallTimeout,
	}, rows, c.apply, &rpcCalls{c: c}, rd)
	c.upkeep.metrics = c.metrics
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

// ready waits until the store is usable.
func (c *Consensus) ready(ctx context.Context) (*scyllastate.ScyllaState, error) {
	if c.ctx.Err() != nil {
		return nil, ErrShutdown
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrShutdown
	case <-c.readyCh:
		return c.store, nil
	}
}

// State returns the shared pinset. It blocks until the component is
// ready.
func (c *Consensus) State(ctx context.Context) (state.ReadOnly, error) {
	return c.ready(ctx)
}

// Store returns the shared store once ready, for callers that need more
// than state.ReadOnly.
func (c *Consensus) Store(ctx context.Context) (*scyllastate.ScyllaState, error) {
	return c.ready(ctx)
}

// LogPin writes a pin to the shared state (its change event first, then
// its row), tracks it on this peer and hints the other peers, which track
// it when they read the event.
func (c *Consensus) LogPin(ctx context.Context, pin api.Pin) error {
	store, err := c.ready(ctx)
	if err != nil {
		return err
	}
	ts, err := store.PinChange(ctx, pin)
	if err != nil {
		return fmt.Errorf("logging pin %s: %w", pin.Cid, err)
	}
	c.hint(ctx)
	// As crdt's hooks: the change is stored; a tracker error (a full
	// queue) is logged and a recover retries the pin.
	if _, err := c.apply.apply(ctx, pin.Cid, ts, &pin, true); err != nil {
		logger.Warnf("tracking %s: %s", pin.Cid, err)
	}
	return nil
}

// LogUnpin removes a pin from the shared state (event first, then the
// row), untracks it on this peer and hints the other peers.
func (c *Consensus) LogUnpin(ctx context.Context, pin api.Pin) error {
	store, err := c.ready(ctx)
	if err != nil {
		return err
	}
	ts, err := store.UnpinChange(ctx, pin.Cid)
	if err != nil {
		return fmt.Errorf("logging unpin %s: %w", pin.Cid, err)
	}
	c.hint(ctx)
	if _, err := c.apply.apply(ctx, pin.Cid, ts, nil, true); err != nil {
		logger.Warnf("untracking %s: %s", pin.Cid, err)
	}
	return nil
}

func (c *Consensus) hint(ctx context.Context) {
	if c.hints != nil {
		c.hints.publish(ctx)
	}
}

// WaitForSync reads the change feed once, so that every change made
// before the call is applied to this peer's tracker.
func (c *Consensus) WaitForSync(ctx context.Context) error {
	if _, err := c.ready(ctx); err != nil {
		return err
	}
	return c.feed.poll(ctx)
}

// AddPeer is a no-op: peers join by sending metrics.
func (c *Consensus) AddPeer(ctx context.Context, pid peer.ID) error { return nil }

// RmPeer returns ErrRmPeer. It never touches the shared pinset.
func (c *Consensus) RmPeer(ctx context.Context, pid peer.ID) error { return ErrRmPeer }

// Leader returns ErrNoLeader.
func (c *Consensus) Leader(ctx context.Context) (peer.ID, error) { return "", ErrNoLeader }

// Clean is called by the cluster after this peer left or was removed. The
// shared pinset belongs to the whole cluster, so Clean deletes nothing:
// wiping it takes `ipfs-cluster-service state cleanup`, confirmed with the
// keyspace name. The feed checkpoint of this peer is kept so that it
// catches up if it comes back.
func (c *Consensus) Clean(ctx context.Context) error {
	logger.Infof("clean: the shared pinset in keyspace %q is kept (only `state cleanup` wipes it)", c.stateCfg.Keyspace)
	return nil
}

// Shutdown stops the feed reader, the loops and the hints, saves the feed
// position, finishes the writes in flight and closes the database
// session. It is safe to call more than once.
func (c *Consensus) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		logger.Info("stopping scylla consensus")
		c.cancel()
		c.wg.Wait()
		if c.hints != nil {
			c.hints.close()
		}
		if c.store != nil {
			c.feed.close(ctx)
			_ = c.store.Close()
		}
	})
	return nil
}

func (c *Consensus) lag() time.Duration {
	select {
	case <-c.readyCh:
		return c.feed.lag()
	default:
		return 0
	}
}

func (c *Consensus) deferredPins() int {
	if a := c.applyRef.Load(); a != nil {
		return a.deferred.len()
	}
	return 0
}

func (c *Consensus) lastCheckpoint() time.Time {
	if n := c.savedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// FirstStart tells whether this peer had never read the change feed
// before this start (its pinset is queued by a paced recover pass).
func (c *Consensus) FirstStart() bool { return c.firstStart.Load() }

// trackerCallTimeout bounds a Track or Untrack call: upstream's tracker
// queues the operation and returns, except for a pin allocated elsewhere,
// which it unpins from IPFS before returning.
const trackerCallTimeout = 10 * time.Minute

// rpcTracker calls this peer's PinTracker through the cluster's RPC. The
// applier bounds its PinQueueSize calls with a timeout.
type rpcTracker struct{ client *rpc.Client }

func (t *rpcTracker) Track(ctx context.Context, pin api.Pin) error {
	ctx, cancel := context.WithTimeout(ctx, trackerCallTimeout)
	defer cancel()
	return t.client.CallContext(ctx, "", "PinTracker", "Track", pin, &struct{}{})
}

func (t *rpcTracker) Untrack(ctx context.Context, c api.Cid) error {
	ctx, cancel := context.WithTimeout(ctx, trackerCallTimeout)
	defer cancel()
	return t.client.CallContext(ctx, "", "PinTracker", "Untrack", api.PinCid(c), &struct{}{})
}

func (t *rpcTracker) PinQueueSize(ctx context.Context) (int64, error) {
	var n int64
	err := t.client.CallContext(ctx, "", "PinTracker", "PinQueueSize", struct{}{}, &n)
	return n, err
}

// rpcCalls makes the calls of the periodic work (upkeep) to the other
// components of this peer through the cluster's RPC. The callers bound
// each call with a timeout.
type rpcCalls struct{ c *Consensus }

func (r *rpcCalls) TrustedPeers(ctx context.Context) ([]peer.ID, error) {
	peers, err := r.c.Peers(ctx)
	if err != nil {
		return nil, err
	}
	trusted := peers[:0]
	for _, p := range peers {
		if r.c.IsTrustedPeer(ctx, p) {
			trusted = append(trusted, p)
		}
	}
	return trusted, nil
}

func (r *rpcCalls) PinLsCid(ctx context.Context, pin api.Pin) (api.IPFSPinStatus, error) {
	var st api.IPFSPinStatus
	err := r.c.rpcClient.CallContext(ctx, "", "IPFSConnector", "PinLsCid", pin, &st)
	return st, err
}

func (r *rpcCalls) Unpin(ctx context.Context, pin api.Pin) error {
	return r.c.rpcClient.CallContext(ctx, "", "Cluster", "Unpin", pin, &api.Pin{})
}

// storeRows is the store as the applier and the upkeep see it: the
// pinset's reads (ReadVersion, ScanSlice, Get) and, from its change feed,
// the completion of a change from its event and the expiry index.
type storeRows struct {
	*scyllastate.ScyllaState
	feed *scyllastate.Feed
}

func newStoreRows(s *scyllastate.ScyllaState) storeRows {
	return storeRows{ScyllaState: s, feed: s.Feed()}
}

// RollForward completes the change of an event (see scyllastate.Feed).
func (s storeRows) RollForward(ctx context.Context, e scyllastate.Event) error {
	return s.feed.RollForward(ctx, e)
}

// Expired reads the expiry index (see scyllastate.Feed).
func (s storeRows) Expired(ctx context.Context, from, to time.Time, fn func(scyllastate.ExpiryEntry) error) error {
	return s.feed.Expired(ctx, from, to, fn)
}

// ForgetExpiry removes an entry of the expiry index (see scyllastate.Feed).
func (s storeRows) ForgetExpiry(ctx context.Context, e scyllastate.ExpiryEntry) error {
	return s.feed.ForgetExpiry(ctx, e)
}
