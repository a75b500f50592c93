//go:build scylla && integration

package service_test

import (
	"context"
	"fmt"
	"mime/multipart"
	"slices"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	files "github.com/ipfs/boxo/files"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// newKuboCluster is newCluster with a real kubo daemon behind each peer:
// peer i pins in kubos[i].
func newKuboCluster(t *testing.T, n int) ([]*testPeer, []*kubotest.Kubo) {
	t.Helper()
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	peers := make([]*testPeer, n)
	kubos := make([]*kubotest.Kubo, n)
	for i := range peers {
		k := kubotest.Start(t)
		p := &testPeer{dir: t.TempDir()}
		writeConfigWith(t, p.dir, db, nil, fmt.Sprintf("peer%d", i), func(c *config.Configs) {
			c.Ipfshttp.NodeAddr = k.NodeAddr()
			c.Ipfsproxy.NodeAddr = k.NodeAddr()
		})
		p.start(t, service.Options{})
		t.Cleanup(func() { p.stop(t) })
		peers[i], kubos[i] = p, k
	}
	joinPeers(t, peers, 30*time.Second)
	return peers, kubos
}

// addFile adds data through the peer as `ipfs-cluster-ctl add` does (the
// blocks go to the IPFS of every allocated peer) and returns its CID.
func addFile(t *testing.T, p *testPeer, name string, data []byte) api.Cid {
	t.Helper()
	dir := files.NewMapDirectory(map[string]files.Node{name: files.NewBytesFile(data)})
	mfr := files.NewMultiFileReader(dir, true, false)
	params := api.DefaultAddParams()
	params.ReplicationFactorMin, params.ReplicationFactorMax = -1, -1
	params.Wrap = false
	c, err := p.peer.Cluster.AddFile(context.Background(), multipart.NewReader(mfr, mfr.Boundary()), params)
	if err != nil {
		t.Fatalf("adding %s through %s: %s", name, p.dir, err)
	}
	return c
}

// pinCids lists the CIDs of the shared pinset through the peer, sorted.
func pinCids(t *testing.T, p *testPeer) []string {
	t.Helper()
	out := make(chan api.Pin, 16)
	errc := make(chan error, 1)
	go func() { errc <- p.peer.Cluster.Pins(context.Background(), out) }()
	var cids []string
	for pin := range out {
		cids = append(cids, pin.Cid.String())
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	slices.Sort(cids)
	return cids
}

// Three peers on one keyspace, each with its own kubo: what one peer
// adds or pins is pinned in every kubo; a peer stopped meanwhile catches
// up when it starts again (and says so); a peer leaving with --leave
// keeps the shared pinset, which the others go on using.
func TestThreePeersWithKuboShareOnePinset(t *testing.T) {
	consensusLog := watchLog(t, "scyllaconsensus")
	peers, kubos := newKuboCluster(t, 3)
	ctx := context.Background()
	eventuallyPinned := func(k *kubotest.Kubo, c api.Cid, want bool, what string) {
		t.Helper()
		waitFor(t, 30*time.Second, what, func() bool { return k.Pinned(t, c) == want })
	}

	// ctl add through peer0: pinned in the kubo of every peer.
	cid1 := addFile(t, peers[0], "file1", fmt.Appendf(nil, "shared pinset %d", time.Now().UnixNano()))
	for i, k := range kubos {
		eventuallyPinned(k, cid1, true, fmt.Sprintf("the added file pinned in kubo%d", i))
	}

	// pin add --name through peer0: listed by peer2 with its name, pinned in kubo2.
	data2 := fmt.Appendf(nil, "pinned by cid %d", time.Now().UnixNano())
	var cid2 api.Cid
	for _, k := range kubos { // the blocks are where each kubo finds them (offline daemons)
		cid2 = k.Add(t, data2)
	}
	opts := everywhere()
	opts.Name = "second"
	if _, err := peers[0].peer.Cluster.Pin(ctx, cid2, opts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "peer2 lists the pin with its name", func() bool {
		pin, err := peers[2].peer.Cluster.PinGet(ctx, cid2)
		return err == nil && pin.Name == "second"
	})
	eventuallyPinned(kubos[2], cid2, true, "the pin pinned in kubo2")

	// peer2 stopped while a pin is added through peer0 and one removed through peer1.
	peers[2].stop(t)
	data3 := fmt.Appendf(nil, "added while away %d", time.Now().UnixNano())
	var cid3 api.Cid
	for _, k := range kubos {
		cid3 = k.Add(t, data3)
	}
	if _, err := peers[0].peer.Cluster.Pin(ctx, cid3, everywhere()); err != nil {
		t.Fatal(err)
	}
	if _, err := peers[1].peer.Cluster.Unpin(ctx, cid2); err != nil {
		t.Fatal(err)
	}
	eventuallyPinned(kubos[0], cid3, true, "the new pin pinned in kubo0")
	if !kubos[2].Pinned(t, cid2) || kubos[2].Pinned(t, cid3) {
		t.Fatal("kubo2 changed while its peer was stopped")
	}

	// peer2 restarted converges.
	peers[2].start(t, service.Options{})
	eventuallyPinned(kubos[2], cid3, true, "the pin added while peer2 was down pinned in kubo2")
	eventuallyPinned(kubos[2], cid2, false, "the pin removed while peer2 was down unpinned in kubo2")
	if !kubos[2].Pinned(t, cid1) {
		t.Error("the pin kept was unpinned in kubo2")
	}
	if consensusLog.line("catching up with the pin changes") == "" {
		t.Error(`the restarted peer did not log "catching up with the pin changes"`)
	}

	// peer1 leaves with --leave: the shared pinset is intact for peer0 and peer2.
	before := pinCids(t, peers[0])
	if len(before) != 2 {
		t.Fatalf("the pinset lists %v, want 2 pins", before)
	}
	peers[1].stop(t)
	peers[1].start(t, service.Options{Leave: true})
	peers[1].stop(t)
	keyspace := loadHelper(t, peers[1].dir).Configs().ScyllaState.Keyspace
	if want := fmt.Sprintf("the shared pinset in keyspace %q is kept", keyspace); consensusLog.line(want) == "" {
		t.Errorf("the leaving peer did not log %q", want)
	}
	for _, p := range []*testPeer{peers[0], peers[2]} {
		if after := pinCids(t, p); !slices.Equal(before, after) {
			t.Fatalf("after peer1 left, %s lists %v, want %v", p.dir, after, before)
		}
	}

	// The remaining peers still pin through the shared state.
	cid4 := addFile(t, peers[2], "file4", fmt.Appendf(nil, "after the leave %d", time.Now().UnixNano()))
	eventuallyPinned(kubos[0], cid4, true, "a file added through peer2 pinned in kubo0")
}
