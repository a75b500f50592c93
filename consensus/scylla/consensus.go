package scylla

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/pstoremgr"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	logging "github.com/ipfs/go-log/v2"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

var logger = logging.Logger("scyllaconsensus")

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
	hints   *hints
	applied *applied

	wg           sync.WaitGroup
	shutdownOnce sync.Once
}

// New returns a Scylla-backed consensus. It returns at once: connecting
// (retried while the database is unreachable, up to cfg.ReadyTimeout),
// the schema check and the catch-up with the change feed run in the
// background, and Ready is closed when they are done. psub may be nil: the
// peers then learn of changes by polling only.
func New(h host.Host, psub *pubsub.PubSub, cfg *Config, stateCfg *scyllastate.Config, opts ...scyllastate.Option) (*Consensus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := stateCfg.Validate(); err != nil {
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
		applied:  newApplied(),
	}
	for _, p := range cfg.TrustedPeers {
		_ = c.Trust(ctx, p)
	}
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

// Fatal receives the error that made the start give up for good (a schema
// the build cannot use, for example). Retrying cannot fix it.
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
	store, err := c.connect()
	if err != nil {
		if c.ctx.Err() == nil {
			logger.Errorf("cannot start: %s", err)
			c.fatal <- err
		}
		return
	}
	c.store = store
	c.feed = newFeed(c)
	if err := c.feed.catchUp(c.ctx); err != nil {
		if c.ctx.Err() == nil {
			logger.Errorf("catching up with the change feed: %s", err)
			c.fatal <- err
		}
		return
	}
	if c.pubsub != nil {
		h, err := newHints(c)
		if err != nil {
			logger.Warnf("pubsub hints disabled, changes are seen by polling every %s: %s", c.cfg.PollInterval, err)
		} else {
			c.hints = h
			c.wg.Add(1)
			go func() { defer c.wg.Done(); h.run(c.ctx, c.feed.wakeUp) }()
		}
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.feed.run(c.ctx) }()
	logger.Infof("scylla consensus ready: shared pinset in keyspace %q", c.stateCfg.Keyspace)
	close(c.readyCh)
}

// connect opens the store, retrying while the database is unreachable.
// Schema and configuration errors are final.
func (c *Consensus) connect() (*scyllastate.ScyllaState, error) {
	delay := time.Second
	for {
		store, err := scyllastate.New(c.ctx, c.stateCfg, c.opts...)
		if err == nil {
			return store, nil
		}
		if c.ctx.Err() != nil || !errors.Is(err, scyllastate.ErrConnect) {
			return nil, err
		}
		logger.Warnf("database unreachable, retrying in %s (the peer waits up to consensus.scylla.ready_timeout=%s): %s",
			delay, c.cfg.ReadyTimeout, err)
		t := time.NewTimer(delay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil, c.ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 30*time.Second)
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

// LogPin writes a pin to the shared state (with its change-feed event),
// tracks it on this peer and hints the other peers, which track it when
// they read the event.
func (c *Consensus) LogPin(ctx context.Context, pin api.Pin) error {
	store, err := c.ready(ctx)
	if err != nil {
		return err
	}
	if err := store.Add(ctx, pin); err != nil {
		return fmt.Errorf("logging pin %s: %w", pin.Cid, err)
	}
	c.hint(ctx)
	// As crdt's hooks: the change is stored; a tracker error (a full
	// queue) is logged and the next recover retries the pin.
	if err := c.track(ctx, pin); err != nil {
		logger.Warnf("tracking %s: %s", pin.Cid, err)
	}
	return nil
}

// LogUnpin removes a pin from the shared state (with its change-feed
// event), untracks it on this peer and hints the other peers.
func (c *Consensus) LogUnpin(ctx context.Context, pin api.Pin) error {
	store, err := c.ready(ctx)
	if err != nil {
		return err
	}
	if err := store.Rm(ctx, pin.Cid); err != nil {
		return fmt.Errorf("logging unpin %s: %w", pin.Cid, err)
	}
	c.hint(ctx)
	if err := c.untrack(ctx, pin); err != nil {
		logger.Warnf("untracking %s: %s", pin.Cid, err)
	}
	return nil
}

func (c *Consensus) hint(ctx context.Context) {
	if c.hints != nil {
		c.hints.publish(ctx)
	}
}

// track and untrack call this peer's PinTracker, unless the last call for
// the CID was the same.
func (c *Consensus) track(ctx context.Context, pin api.Pin) error {
	if c.applied.same(pin.Cid, true, pin.Timestamp) {
		return nil
	}
	c.applied.record(pin.Cid, true, pin.Timestamp)
	return c.rpcClient.CallContext(ctx, "", "PinTracker", "Track", pin, &struct{}{})
}

func (c *Consensus) untrack(ctx context.Context, pin api.Pin) error {
	if c.applied.same(pin.Cid, false, time.Time{}) {
		return nil
	}
	c.applied.record(pin.Cid, false, time.Time{})
	return c.rpcClient.CallContext(ctx, "", "PinTracker", "Untrack", pin, &struct{}{})
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

// Shutdown stops the feed reader and the hints, saves the feed position
// and closes the database session. It is safe to call more than once.
func (c *Consensus) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		logger.Info("stopping scylla consensus")
		c.cancel()
		c.wg.Wait()
		if c.hints != nil {
			c.hints.close()
		}
		if c.store != nil {
			c.feed.saveCheckpoint(ctx)
			_ = c.store.Close()
		}
	})
	return nil
}
