//go:build scylla && integration

package service_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/test"
	peer "github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config/configtest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// testPeer is one in-process peer: its config folder, its own IPFS mock
// and, while running, the peer.
type testPeer struct {
	dir  string
	ipfs *test.IpfsMock
	peer *service.Peer
}

var testSecret = make([]byte, 32)

// writeConfig writes the service.json and identity.json of a scylla peer
// through the config helper, as `init --datastore scylla` does.
func writeConfig(t *testing.T, dir string, db *scyllastate.Config, ipfs *test.IpfsMock, name string) {
	t.Helper()
	writeConfigWith(t, dir, db, ipfs, name, nil)
}

// writeConfigWith is writeConfig with a last change of the
// configuration before it is saved.
func writeConfigWith(t *testing.T, dir string, db *scyllastate.Config, ipfs *test.IpfsMock, name string, mod func(*config.Configs)) {
	t.Helper()
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), "", config.Scylla)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	err = configtest.WriteNew(h, func(c *config.Configs) {
		local := ma.StringCast("/ip4/127.0.0.1/tcp/0")
		c.Cluster.Secret = testSecret
		c.Cluster.Peername = name
		c.Cluster.ListenAddr = []ma.Multiaddr{local}
		// Peers meet only through Join, as in upstream's tests: mDNS
		// would let peers of other tests (same secret) dial them, and a
		// failed early dial leaves a dial backoff that fails Join.
		c.Cluster.MDNSInterval = 0
		c.Cluster.MonitorPingInterval = time.Second
		c.Cluster.PeerWatchInterval = time.Second
		c.Pubsubmon.CheckInterval = time.Second
		c.Restapi.HTTPListenAddr = []ma.Multiaddr{local}
		c.Pinsvcapi.HTTPListenAddr = []ma.Multiaddr{local}
		c.Ipfsproxy.ListenAddr = []ma.Multiaddr{local}
		if ipfs != nil { // else mod sets the IPFS daemon
			node := ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/%d", ipfs.Addr, ipfs.Port))
			c.Ipfshttp.NodeAddr = node
			c.Ipfsproxy.NodeAddr = node
		}
		*c.ScyllaState = *db
		if mod != nil {
			mod(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// start loads the configuration from disk, as `daemon` does, and waits
// for the peer to be ready.
func (p *testPeer) start(t *testing.T, opts service.Options) {
	t.Helper()
	h := loadHelper(t, p.dir)
	var err error
	p.peer, err = service.NewPeer(context.Background(), h, opts)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.peer.Cluster.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("peer in %s not ready: %v", p.dir, p.peer.Err())
	}
}

func loadHelper(t *testing.T, dir string) *config.Helper {
	t.Helper()
	h, err := config.NewLoadedHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Manager().Shutdown)
	if h.Consensus() != config.Scylla {
		t.Fatalf("consensus from the written config: %q", h.Consensus())
	}
	return h
}

func testCid(t *testing.T) api.Cid {
	t.Helper()
	return statetest.Cid(int(time.Now().UnixNano() % 1e6))
}

func (p *testPeer) stop(t *testing.T) {
	t.Helper()
	if p.peer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.peer.Shutdown(ctx); err != nil {
		t.Errorf("shutting down %s: %s", p.dir, err)
	}
	p.peer = nil
}

// freePort is a TCP port free on the loopback at the time of the call,
// below the kernel's ephemeral range: a port the kernel hands out for
// ":0" can become the local end of an outgoing connection before the
// peer given it binds it ("address already in use").
func freePort(t *testing.T) int {
	t.Helper()
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func (p *testPeer) id() peer.ID { return p.peer.Host.ID() }

func (p *testPeer) addr() ma.Multiaddr {
	return p.peer.Host.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + p.id().String()))
}

// pinnedInIPFS asks the peer's IPFS mock whether it holds a pin.
func (p *testPeer) pinnedInIPFS(t *testing.T, c api.Cid) bool {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://%s:%d/api/v0/pin/ls?arg=%s", p.ipfs.Addr, p.ipfs.Port, c), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// newCluster writes the configurations of n peers sharing one keyspace
// and starts them, the others joining the first. opts[i], when given,
// are the daemon options of peer i.
func newCluster(t *testing.T, n int, opts ...service.Options) []*testPeer {
	t.Helper()
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	peers := make([]*testPeer, n)
	for i := range peers {
		p := &testPeer{dir: t.TempDir(), ipfs: test.NewIpfsMock(t)}
		t.Cleanup(p.ipfs.Close)
		writeConfig(t, p.dir, db, p.ipfs, fmt.Sprintf("peer%d", i))
		var o service.Options
		if i < len(opts) {
			o = opts[i]
		}
		p.start(t, o)
		t.Cleanup(func() { p.stop(t) })
		peers[i] = p
	}
	joinPeers(t, peers, 30*time.Second)
	return peers
}

// joinPeers connects peers to the first and waits until each sees all.
func joinPeers(t *testing.T, peers []*testPeer, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	for _, p := range peers[1:] {
		if err := p.peer.Cluster.Join(ctx, peers[0].addr()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, timeout, "every peer sees the others", func() bool {
		for _, p := range peers {
			ps, err := p.peer.Consensus.Peers(ctx)
			if err != nil || len(ps) != len(peers) {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s: not yet", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func everywhere() api.PinOptions {
	return api.PinOptions{ReplicationFactorMin: -1, ReplicationFactorMax: -1}
}

func TestPinOnOnePeerIsPinnedByEveryPeer(t *testing.T) {
	peers := newCluster(t, 3)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		c := statetest.Cid(i)
		if _, err := peers[0].peer.Cluster.Pin(ctx, c, everywhere()); err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			took := waitFor(t, time.Second, fmt.Sprintf("%s pinned in the IPFS of %s", c, p.dir), func() bool { return p.pinnedInIPFS(t, c) })
			t.Logf("pin %d on peer0 -> pinned via %s after %s", i, p.peer.Cluster.ID(ctx).Peername, took)
		}
	}
	// An unpin through another peer reaches every IPFS too.
	c := statetest.Cid(1)
	if _, err := peers[2].peer.Cluster.Unpin(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		waitFor(t, time.Second, fmt.Sprintf("%s unpinned in the IPFS of %s", c, p.dir), func() bool { return !p.pinnedInIPFS(t, c) })
	}
	// Every peer lists the same pins from the shared state.
	for _, p := range peers {
		out := make(chan api.Pin, 16)
		go func() { _ = p.peer.Cluster.Pins(ctx, out) }()
		n := 0
		for range out {
			n++
		}
		if n != 2 {
			t.Errorf("%s lists %d pins, want 2", p.dir, n)
		}
	}
}

func TestStoppedPeerCatchesUpOnRestart(t *testing.T) {
	peers := newCluster(t, 3)
	ctx := context.Background()
	a, b := peers[0], peers[1]
	kept, removed, added := statetest.Cid(11), statetest.Cid(12), statetest.Cid(13)
	for _, c := range []api.Cid{kept, removed} {
		if _, err := a.peer.Cluster.Pin(ctx, c, everywhere()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "pinned on b", func() bool { return b.pinnedInIPFS(t, c) })
	}

	b.stop(t)
	if _, err := a.peer.Cluster.Unpin(ctx, removed); err != nil {
		t.Fatal(err)
	}
	if _, err := a.peer.Cluster.Pin(ctx, added, everywhere()); err != nil {
		t.Fatal(err)
	}
	if !b.pinnedInIPFS(t, removed) || b.pinnedInIPFS(t, added) {
		t.Fatal("b's IPFS changed while b was stopped")
	}

	b.start(t, service.Options{})
	// Ready means caught up: the removal is applied before Ready (upstream's
	// recover would never unpin it).
	waitFor(t, 5*time.Second, "the pin removed while b was down is unpinned on b", func() bool { return !b.pinnedInIPFS(t, removed) })
	waitFor(t, 5*time.Second, "the pin added while b was down is pinned on b", func() bool { return b.pinnedInIPFS(t, added) })
	if !b.pinnedInIPFS(t, kept) {
		t.Error("the pin kept was unpinned on b")
	}
}

func TestLeavingPeerKeepsTheSharedPinset(t *testing.T) {
	peers := newCluster(t, 2, service.Options{}, service.Options{Leave: true})
	ctx := context.Background()
	for i := 21; i <= 25; i++ {
		if _, err := peers[0].peer.Cluster.Pin(ctx, statetest.Cid(i), everywhere()); err != nil {
			t.Fatal(err)
		}
	}
	leaver := peers[1]
	waitFor(t, 5*time.Second, "pins reach the leaving peer", func() bool { return leaver.pinnedInIPFS(t, statetest.Cid(25)) })

	// --leave: on shutdown the cluster calls RmPeer, then Clean.
	leaver.stop(t)

	st, err := peers[0].peer.Consensus.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := statetest.ListAll(t, ctx, st)
	if len(got) != 5 {
		t.Fatalf("after a peer left the shared pinset has %d pins, want 5", len(got))
	}
	// The remaining peer still serves pins.
	if _, err := peers[0].peer.Cluster.PinGet(ctx, statetest.Cid(21)); err != nil {
		t.Fatal(err)
	}
}
