//go:build scylla && integration

package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// How the tests of remote pins (pins allocated to other peers) move a
// pin's allocation. Upstream's Cluster.Pin keeps a pin's current
// allocations while they are valid (allocate.go: obtainAllocations), so a
// re-pin through the API with other user allocations does not move a pin
// whose peer is up. The tests therefore write the pin with its new
// allocations through the consensus (LogPin), as upstream's cluster does
// once it has allocated (repinning from a down peer, the adder): the
// shared pinset's row and change event are those of any allocation move.

// listedLine is what a peer logs when it has listed its IPFS's pins for
// the remote pins (consensus/scylla/ipfsheld.go).
const listedLine = "pins of IPFS in"

// remoteMoveTimeout bounds each wait of these tests: the feed, the
// tracker and kubo take well under a second each.
const remoteMoveTimeout = 60 * time.Second

// logAllocated writes c to the shared pinset through via, allocated to
// the peers to (replication factor len(to), user allocations to), as
// upstream's Cluster.pin does after allocating.
func logAllocated(t *testing.T, via *testPeer, c api.Cid, name string, to ...*testPeer) {
	t.Helper()
	ids := make([]peer.ID, len(to))
	for i, p := range to {
		ids[i] = p.id()
	}
	opts := api.PinOptions{
		ReplicationFactorMin: len(to),
		ReplicationFactorMax: len(to),
		Name:                 name,
		UserAllocations:      ids,
	}
	pin := api.PinWithOpts(c, opts)
	pin.Allocations = ids
	pin.Timestamp = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := via.peer.Consensus.LogPin(ctx, pin); err != nil {
		t.Fatalf("pinning %s on %v: %s", c, ids, err)
	}
	got, err := via.peer.Cluster.PinGet(ctx, c)
	if err != nil || len(got.Allocations) != len(ids) || (len(ids) > 0 && got.Allocations[0] != ids[0]) {
		t.Fatalf("the pinset has %s allocated to %v (err %v), want %v", c, got.Allocations, err, ids)
	}
}

// waitListings waits until n listings of IPFS's pins have been logged.
func waitListings(t *testing.T, w *logWatch, n int, what string) {
	t.Helper()
	waitFor(t, remoteMoveTimeout, what, func() bool { return w.count(listedLine) >= n })
}

// waitKubo waits until kubo k holds a recursive pin of c, or no longer
// does (want false).
func waitKubo(t *testing.T, k *kubotest.Kubo, c api.Cid, want bool, what string) {
	t.Helper()
	took := waitFor(t, remoteMoveTimeout, what, func() bool { return k.Pinned(t, c) == want })
	t.Logf("%s after %s", what, took.Round(time.Millisecond))
}

// checkNoErrors fails the test if peer p reports a pin in error, or if
// the remote pins cs are not "remote" with no error in its status.
func checkNoErrors(t *testing.T, p *testPeer, cs ...api.Cid) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range cs {
		pi := p.peer.Cluster.StatusLocal(ctx, c)
		if pi.Status != api.TrackerStatusRemote || pi.Error != "" {
			t.Errorf("%s: status of remote pin %s is %s (error %q), want remote", p.dir, c, pi.Status, pi.Error)
		}
	}
	out := make(chan api.PinInfo, 16)
	errc := make(chan error, 1)
	go func() { errc <- p.peer.Cluster.StatusAllLocal(ctx, api.TrackerStatusError, out) }()
	for pi := range out {
		t.Errorf("%s: status --filter error lists %s: %s (%s)", p.dir, pi.Cid, pi.Status, pi.Error)
	}
	if err := <-errc; err != nil {
		t.Errorf("%s: status --filter error: %s", p.dir, err)
	}
}

// A pin whose allocation moves from peer0 to peer1 is unpinned from
// kubo0 (and pinned in kubo1), while peer0 keeps running: what a user
// sees with `ipfs pin ls` on each kubo after the move. peer0 has listed
// its kubo's pins (for an earlier remote pin) before the pin was made, so
// the listing does not hold it: kubo0's pin is found through the record
// of the pins peer0's tracker was asked to make since it started. A
// remote pin of content kubo0 never held (the earlier one) leaves no
// error in peer0's status.
func TestMovedAllocationUnpinsFromTheOldPeersKubo(t *testing.T) {
	consensusLog := watchLog(t, "scyllaconsensus")
	peers, kubos := newKuboCluster(t, 2)
	stamp := time.Now().UnixNano()

	// A pin on peer1 only: peer0's first remote pin, which makes peer0 list
	// kubo0's pins (none of this test's).
	other := kubos[1].Add(t, fmt.Appendf(nil, "on peer1 only %d", stamp))
	logAllocated(t, peers[0], other, "other", peers[1])
	waitKubo(t, kubos[1], other, true, "the pin allocated to peer1 pinned in kubo1")
	waitListings(t, consensusLog, 1, "peer0 lists kubo0's pins")

	// The pin to move, allocated to peer0 (the blocks in both offline kubos).
	data := fmt.Appendf(nil, "allocation moves %d", stamp)
	c := kubos[0].Add(t, data)
	if c1 := kubos[1].Add(t, data); !c1.Equals(c) {
		t.Fatalf("the kubos give %s and %s for the same data", c, c1)
	}
	logAllocated(t, peers[0], c, "moved", peers[0])
	waitKubo(t, kubos[0], c, true, "the pin allocated to peer0 pinned in kubo0")
	if kubos[1].Pinned(t, c) {
		t.Fatal("kubo1 pins a CID allocated to peer0 only")
	}

	// The allocation moves to peer1 (written through peer1: peer0 reads it
	// in the change feed).
	logAllocated(t, peers[1], c, "moved", peers[1])
	waitKubo(t, kubos[1], c, true, "the moved pin pinned in kubo1")
	waitKubo(t, kubos[0], c, false, "the moved pin unpinned from kubo0")
	if !kubos[1].Pinned(t, other) {
		t.Error("kubo1 lost the pin allocated to peer1")
	}
	checkNoErrors(t, peers[0], c, other)
}

// A CID peer0's kubo held when peer0's daemon started, and that peer0's
// tracker was not asked to pin since, is unpinned from kubo0 once the
// cluster pins it on peer1 only, as upstream's tracker does: what a user
// sees when a pin made here by an earlier run of the daemon is moved
// away. Such a pin is known to the restarted peer only through its
// listing of kubo0's pins, the path this test covers: the record of the
// pins its tracker was asked to make starts empty with the process. A pin
// the cluster made here just before a restart would not do (the restart's
// catch-up re-reads the last feed_overlap, 1 minute by default, of
// changes and re-makes the pin, which records it: see the next test), so
// the CID is pinned through kubo0's own API while peer0 is stopped, as
// the earlier daemon would have. The cluster's pin comes after peer0 has
// listed kubo0's pins (a remote pin allocated to peer1 makes it list
// them; the test waits for the listing to be logged): before any listing
// every remote pin is checked against kubo, which would not tell the
// listing from none.
func TestMovedAllocationUnpinsWhatTheOldPeersKuboHeldAtStart(t *testing.T) {
	consensusLog := watchLog(t, "scyllaconsensus")
	peers, kubos := newKuboCluster(t, 2)
	stamp := time.Now().UnixNano()

	data := fmt.Appendf(nil, "held at start %d", stamp)
	c := kubos[0].Add(t, data)
	kubos[1].Add(t, data)
	peers[0].stop(t)
	kubos[0].Pin(t, c)
	peers[0].start(t, service.Options{})
	if n := consensusLog.count(listedLine); n != 0 {
		t.Fatalf("%d listings of IPFS's pins logged before the first remote pin, want 0", n)
	}

	// peer0's first remote pin: it lists kubo0's pins, which hold c.
	other := kubos[1].Add(t, fmt.Appendf(nil, "on peer1 only %d", stamp))
	logAllocated(t, peers[1], other, "other", peers[1])
	waitKubo(t, kubos[1], other, true, "the pin allocated to peer1 pinned in kubo1")
	waitListings(t, consensusLog, 1, "peer0 lists kubo0's pins")

	// The cluster pins c on peer1 (written through peer1: peer0 reads it in
	// the change feed).
	logAllocated(t, peers[1], c, "held", peers[1])
	waitKubo(t, kubos[1], c, true, "the cluster's pin of the CID pinned in kubo1")
	waitKubo(t, kubos[0], c, false, "the CID kubo0 held at peer0's start unpinned from kubo0")
	checkNoErrors(t, peers[0], c, other)
}

// A pin the cluster made on peer0, moved to peer1 after peer0's daemon
// restarted, is unpinned from kubo0: what a user sees after restarting
// or upgrading a peer and then moving pins off it. The move comes after
// the restarted peer has listed kubo0's pins (see the test above), so
// that it is not checked against kubo merely for want of a listing; the
// restart's catch-up re-made the pin (its change is within feed_overlap),
// so either record may find it.
func TestMovedAllocationUnpinsFromTheOldPeersKuboAfterItsRestart(t *testing.T) {
	consensusLog := watchLog(t, "scyllaconsensus")
	peers, kubos := newKuboCluster(t, 2)
	stamp := time.Now().UnixNano()

	data := fmt.Appendf(nil, "pinned before the restart %d", stamp)
	c := kubos[0].Add(t, data)
	kubos[1].Add(t, data)
	logAllocated(t, peers[0], c, "restart", peers[0])
	waitKubo(t, kubos[0], c, true, "the pin allocated to peer0 pinned in kubo0")
	// peer1's first remote pin makes it list kubo1's pins: the one listing
	// logged before peer0 restarts.
	waitListings(t, consensusLog, 1, "peer1 lists kubo1's pins")

	peers[0].stop(t)
	peers[0].start(t, service.Options{})
	if !kubos[0].Pinned(t, c) {
		t.Fatal("kubo0 lost the pin while peer0 restarted")
	}
	if n := consensusLog.count(listedLine); n != 1 {
		t.Fatalf("%d listings of IPFS's pins logged before peer0's first remote pin, want 1 (peer1's)", n)
	}

	// peer0's first remote pin since its restart: it lists kubo0's pins.
	other := kubos[1].Add(t, fmt.Appendf(nil, "on peer1 only %d", stamp))
	logAllocated(t, peers[1], other, "other", peers[1])
	waitKubo(t, kubos[1], other, true, "the pin allocated to peer1 pinned in kubo1")
	waitListings(t, consensusLog, 2, "peer0 lists kubo0's pins after its restart")

	logAllocated(t, peers[1], c, "restart", peers[1])
	waitKubo(t, kubos[1], c, true, "the moved pin pinned in kubo1")
	waitKubo(t, kubos[0], c, false, "the pin made before the restart unpinned from kubo0")
	checkNoErrors(t, peers[0], c, other)
}
