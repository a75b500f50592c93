package scylla

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
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
	// startErr is the last error of the start, for notReady.
	startErr atomic.Pointer[string]
	// readyGrace is how long notReady waits for a start to end
	// (notReadyGrace).
	readyGrace time.Duration
	// applyRef is the applier once the store is set (metrics read it
	// from other goroutines).
	applyRef atomic.Pointer[applier]

	wg           sync.WaitGroup
	shutdownOnce sync.Once
}

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
// ready. Called for a StatusAll of the tracker wrapper (ctx carries its
// listFailures), the errors of its listing are recorded for the wrapper
// to return (see listerrors.go).
func (c *Consensus) State(ctx context.Context) (state.ReadOnly, error) {
	st, err := c.ready(ctx)
	if err != nil {
		return nil, err
	}
	return recordListFailures(ctx, st), nil
}

// Store returns the shared store once ready, for callers that need more
// than state.ReadOnly.
func (c *Consensus) Store(ctx context.Context) (*scyllastate.ScyllaState, error) {
	return c.ready(ctx)
}

// WrapTracker returns the pin tracker to give the cluster with this
// consensus: upstream's tracker t, whose failed operations are kept in
// the database rather than in memory. peerName is the cluster's
// peername (for the statuses it reports). Until this component is
// ready, the wrapper's calls that need the shared pinset (Status,
// StatusAll, Recover, RecoverAll) fail at once with ErrNotReady rather
// than wait for the database. The daemon also disables the cluster's
// periodic recover and state sync, which this consensus replaces (see
// its Config).
func (c *Consensus) WrapTracker(t ipfscluster.PinTracker, peerName string) ipfscluster.PinTracker {
	return c.wrapTracker(t, c.host.ID(), peerName)
}

// wrapTracker is WrapTracker for peer self.
func (c *Consensus) wrapTracker(t ipfscluster.PinTracker, self peer.ID, peerName string) *tracker {
	store := func(ctx context.Context) (errorStore, error) {
		s, err := c.Store(ctx)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	w := newTracker(t, self, peerName, store, c.cfg.PinQueueLimit)
	w.notReady = c.notReady
	return w
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
	c.hint(ctx, pin)
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
	c.hint(ctx, pin)
	if _, err := c.apply.apply(ctx, pin.Cid, ts, nil, true); err != nil {
		logger.Warnf("untracking %s: %s", pin.Cid, err)
	}
	return nil
}

// hint tells the peers that must act on a change of pin to read the feed
// (see hints).
func (c *Consensus) hint(ctx context.Context, pin api.Pin) {
	if c.hints != nil {
		c.hints.publish(ctx, hintTargets(pin, c.host.ID()))
	}
}

// hintTargets are the peers other than self that must act on a change of
// pin at once: nil (every peer) for a pin without allocations (replication
// -1), else its allocated peers. A peer that held the pin before a change
// of its allocations sees the change at its next poll.
func hintTargets(pin api.Pin, self peer.ID) []peer.ID {
	if pin.IsPinEverywhere() || len(pin.Allocations) == 0 {
		return nil
	}
	to := make([]peer.ID, 0, len(pin.Allocations))
	for _, p := range pin.Allocations {
		if p != self {
			to = append(to, p)
		}
	}
	return to
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

// overflowedPins counts the pins left to a recover pass since start
// (see overflow).
func (c *Consensus) overflowedPins() int64 {
	if a := c.applyRef.Load(); a != nil {
		return a.overflow.totalCount()
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
