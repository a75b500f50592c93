//go:build integration

package scylla_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/libp2p/go-libp2p"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	host "github.com/libp2p/go-libp2p/core/host"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// tracker records what the consensus asks of this peer's PinTracker.
type tracker struct {
	mu      sync.Mutex
	tracked map[string]bool // CID -> tracked (true) or untracked (false)
	calls   map[string]int  // CID -> Track calls
}

func (t *tracker) Track(_ context.Context, in api.Pin, _ *struct{}) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked[in.Cid.String()] = true
	t.calls[in.Cid.String()]++
	return nil
}

func (t *tracker) trackCalls(c api.Cid) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[c.String()]
}

func (t *tracker) Untrack(_ context.Context, in api.Pin, _ *struct{}) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked[in.Cid.String()] = false
	return nil
}

func (t *tracker) state(c api.Cid) (tracked, seen bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tracked, seen = t.tracked[c.String()]
	return
}

// ipfs answers PinLsCid: the CIDs in pinned are pinned (recursively).
type ipfs struct {
	mu     sync.Mutex
	pinned map[string]bool
}

func (i *ipfs) PinLsCid(_ context.Context, in api.Pin, out *api.IPFSPinStatus) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	*out = api.IPFSPinStatusUnpinned
	if i.pinned[in.Cid.String()] {
		*out = api.IPFSPinStatusRecursive
	}
	return nil
}

// monitor answers the peerset metric: no other peer.
type monitor struct{}

func (monitor) LatestMetrics(_ context.Context, _ string, out *[]api.Metric) error {
	*out = nil
	return nil
}

type node struct {
	host    host.Host
	tracker *tracker
	ipfs    *ipfs
	cons    *scylla.Consensus
}

func newNode(t *testing.T, db *scyllastate.Config) *node {
	t.Helper()
	return newNodeWith(t, db, nil)
}

// newNodeWith is newNode; before starts the consensus's start, given the
// peer's host, config and IPFS mock.
func newNodeWith(t *testing.T, db *scyllastate.Config, before func(host.Host, *scylla.Config, *ipfs)) *node {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n := &node{host: h, tracker: &tracker{tracked: map[string]bool{}, calls: map[string]int{}}, ipfs: &ipfs{pinned: map[string]bool{}}}
	srv := rpc.NewServer(h, "/test/rpc")
	if err := srv.RegisterName("PinTracker", n.tracker); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterName("IPFSConnector", n.ipfs); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterName("PeerMonitor", monitor{}); err != nil {
		t.Fatal(err)
	}
	cfg := &scylla.Config{}
	_ = cfg.Default()
	cfg.PollInterval = 50 * time.Millisecond
	if before != nil {
		before(h, cfg, n.ipfs)
	}
	dbCopy := *db
	n.cons, err = scylla.New(h, nil, cfg, &dbCopy)
	if err != nil {
		t.Fatal(err)
	}
	n.cons.SetClient(rpc.NewClientWithServer(h, "/test/rpc", srv))
	select {
	case <-n.cons.Ready(context.Background()):
	case err := <-n.cons.Fatal():
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("consensus not ready")
	}
	return n
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s: not yet", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFeedTracksOnEveryPeerWithoutPubsub(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	a, b := newNode(t, db), newNode(t, db)
	defer a.cons.Shutdown(context.Background())
	defer b.cons.Shutdown(context.Background())
	ctx := context.Background()

	pin := statetest.Pin(1)
	if err := a.cons.LogPin(ctx, pin); err != nil {
		t.Fatal(err)
	}
	if tracked, _ := a.tracker.state(pin.Cid); !tracked {
		t.Fatal("LogPin did not track the pin on its own peer at once")
	}
	eventually(t, "the other peer tracks the pin (feed polling, no pubsub)", func() bool {
		tracked, _ := b.tracker.state(pin.Cid)
		return tracked
	})
	// a reads its own event too (it re-reads the pin) but does not repeat
	// the identical Track: upstream's tracker races on duplicate Tracks of
	// an in-flight pin.
	time.Sleep(300 * time.Millisecond) // several polls of 50ms
	if n := a.tracker.trackCalls(pin.Cid); n != 1 {
		t.Fatalf("the writing peer got %d Track calls for one pin, want 1", n)
	}
	if n := b.tracker.trackCalls(pin.Cid); n != 1 {
		t.Fatalf("the other peer got %d Track calls for one pin, want 1", n)
	}
	if err := b.cons.LogUnpin(ctx, pin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first peer untracks the pin", func() bool {
		tracked, seen := a.tracker.state(pin.Cid)
		return seen && !tracked
	})
	peers, err := a.cons.Peers(ctx)
	if err != nil || len(peers) != 1 || peers[0] != a.host.ID() {
		t.Fatalf("Peers = %v, %v; want self", peers, err)
	}
	if err := a.cons.RmPeer(ctx, b.host.ID()); err == nil {
		t.Fatal("RmPeer succeeded: the peerset has no stored membership")
	}
}

func TestShutdownStopsItsGoroutines(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	_ = newNode(t, db).cons.Shutdown(context.Background()) // warm up the driver's shared state
	time.Sleep(500 * time.Millisecond)
	before := runtime.NumGoroutine()

	n := newNode(t, db)
	if err := n.cons.LogPin(context.Background(), statetest.Pin(2)); err != nil {
		t.Fatal(err)
	}
	if err := n.cons.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.cons.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %s", err)
	}
	n.host.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Shutdown, %d before the consensus started:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := n.cons.State(context.Background()); err == nil {
		t.Fatal("State after Shutdown: want an error")
	}
}

// A remote peer may ask for the peerset (RPC Consensus.Peers) before the
// cluster has given the component its RPC client: no panic, an error.
func TestPeersBeforeSetClient(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cfg := &scylla.Config{}
	_ = cfg.Default()
	c, err := scylla.New(h, nil, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Peers(ctx); err == nil {
		t.Fatal("Peers before SetClient: want an error")
	}
}

// A peer whose checkpoint is older than event_retention missed changes
// the feed no longer holds: it repairs the whole pinset before it reports
// ready. A pin added while it was away gets tracked, a CID unpinned while
// it was away (its marker) that its IPFS still holds gets untracked.
func TestPeerAwayLongerThanRetentionRepairsBeforeReady(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, db)
	ctx := context.Background()
	everywhere := func(n int) api.Pin {
		p := statetest.Pin(n)
		p.Allocations = nil
		p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
		p.ExpireAt = time.Time{}
		return p
	}
	added, removed := everywhere(1), everywhere(2)
	start := time.Now()
	for _, p := range []api.Pin{added, removed} {
		if err := st.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Rm(ctx, removed.Cid); err != nil {
		t.Fatal(err)
	}
	// Those changes are older than event_retention: gone from the feed.
	sess := cqltest.Session(t, db)
	defer sess.Close()
	parts, err := st.Feed().Partitions(ctx, start, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if err := sess.Query("DELETE FROM "+db.Keyspace+".pin_events WHERE bucket = ? AND shard = ?", p.Bucket, p.Shard).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	// The peer keeps events 2 minutes: its catch-up reads little.
	short := *db
	short.EventRetention = 2 * time.Minute
	n := newNodeWith(t, &short, func(h host.Host, cfg *scylla.Config, i *ipfs) {
		cfg.RecoverSlices = 4
		i.pinned[removed.Cid.String()] = true // pinned before the peer left
		away := time.Now().Add(-short.EventRetention - time.Hour)
		if err := st.Feed().SaveCheckpoint(ctx, h.ID().String(), away); err != nil {
			t.Fatal(err)
		}
	})
	defer n.cons.Shutdown(ctx)
	// Ready: the repair is done.
	if tracked, _ := n.tracker.state(added.Cid); !tracked {
		t.Fatal("ready before the pin added while the peer was away was tracked")
	}
	if tracked, seen := n.tracker.state(removed.Cid); !seen || tracked {
		t.Fatal("ready before the CID unpinned while the peer was away was untracked")
	}
}
