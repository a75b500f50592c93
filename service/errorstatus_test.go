//go:build scylla && integration

package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/api/rest/client"
	peer "github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// errorStatus is `ipfs-cluster-ctl status --filter error` through the
// REST API at port: each CID with its peers' statuses.
func errorStatus(t *testing.T, port int) (map[api.Cid]map[string]api.PinInfoShort, error) {
	t.Helper()
	c, err := client.NewDefaultClient(&client.Config{
		APIAddr: ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)), Timeout: time.Minute,
	})
	if err != nil {
		return nil, err
	}
	out := make(chan api.GlobalPinInfo, 16)
	errc := make(chan error, 1)
	go func() { errc <- c.StatusAll(context.Background(), api.TrackerStatusError, false, out) }()
	got := map[api.Cid]map[string]api.PinInfoShort{}
	for gpi := range out {
		if _, dup := got[gpi.Cid]; dup {
			t.Errorf("%s listed twice", gpi.Cid)
		}
		got[gpi.Cid] = gpi.PeerMap
	}
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("status --filter error: %w", err)
	}
	return got, nil
}

// A cluster-wide status --filter error is read from the errors every
// peer stores in the database: a peer that stopped a moment ago (still
// in the peerset) has its errors listed as they were, pin_error with its
// message, also for pins allocated to it alone; upstream's status would
// give it cluster_error on the others' CIDs and omit its own.
func TestStatusFilterErrorListsTheStoredErrorsOfAPeerThatDoesNotAnswer(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	peers := make([]*testPeer, 2)
	kubos := make([]*kubotest.Kubo, 2)
	restPorts := make([]int, 2)
	for i := range peers {
		k := kubotest.Start(t)
		p := &testPeer{dir: t.TempDir()}
		restPorts[i] = freePort(t)
		writeConfigWith(t, p.dir, db, nil, fmt.Sprintf("peer%d", i), func(c *config.Configs) {
			c.Ipfshttp.NodeAddr = k.NodeAddr()
			c.Ipfsproxy.NodeAddr = k.NodeAddr()
			c.Restapi.HTTPListenAddr = []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", restPorts[i]))}
			// Pins IPFS lacks are not tracked again while the test runs.
			c.Scylla.RepairInterval = 168 * time.Hour
			if i == 1 {
				// peer1's ping metrics live 40 s: it stays in peer0's
				// peerset for at least 20 s after it stops.
				c.Cluster.MonitorPingInterval = 20 * time.Second
			}
		})
		p.start(t, service.Options{})
		t.Cleanup(func() { p.stop(t) })
		peers[i], kubos[i] = p, k
	}
	joinPeers(t, peers, 60*time.Second)
	ctx := context.Background()
	p1 := peers[1].id()

	// Content no kubo has (both are offline): every pin fails.
	everywhereCids := make([]api.Cid, 10)
	onlyP1 := make([]api.Cid, 5)
	for i := range everywhereCids {
		everywhereCids[i] = kubos[0].HashOnly(t, fmt.Appendf(nil, "everywhere %d %d", i, time.Now().UnixNano()))
		if _, err := peers[0].peer.Cluster.Pin(ctx, everywhereCids[i], everywhere()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range onlyP1 {
		onlyP1[i] = kubos[0].HashOnly(t, fmt.Appendf(nil, "only peer1 %d %d", i, time.Now().UnixNano()))
		opts := api.PinOptions{ReplicationFactorMin: 1, ReplicationFactorMax: 1, UserAllocations: []peer.ID{p1}}
		if _, err := peers[0].peer.Cluster.Pin(ctx, onlyP1[i], opts); err != nil {
			t.Fatal(err)
		}
	}
	wantPeers := func(c api.Cid) int {
		for _, o := range onlyP1 {
			if o == c {
				return 1
			}
		}
		return 2
	}
	allInError := func(got map[api.Cid]map[string]api.PinInfoShort, err error) error {
		if err != nil {
			return err
		}
		if len(got) != len(everywhereCids)+len(onlyP1) {
			return fmt.Errorf("%d CIDs listed, want %d", len(got), len(everywhereCids)+len(onlyP1))
		}
		for c, pm := range got {
			if len(pm) != wantPeers(c) {
				return fmt.Errorf("%s listed on %d peers, want %d", c, len(pm), wantPeers(c))
			}
			for pid, pi := range pm {
				if pi.Status != api.TrackerStatusPinError || !strings.Contains(pi.Error, "not found") {
					return fmt.Errorf("%s on %s: %s %q, want pin_error with kubo's error", c, pid, pi.Status, pi.Error)
				}
			}
			if pi, ok := pm[p1.String()]; !ok || pi.PeerName != "peer1" {
				return fmt.Errorf("%s: peer1 listed %v with name %q", c, ok, pi.PeerName)
			}
		}
		return nil
	}
	var last error
	waitFor(t, 60*time.Second, "every pin in error on its peers, listed by peer0", func() bool {
		last = allInError(errorStatus(t, restPorts[0]))
		return last == nil
	})

	peers[1].stop(t)
	if ps, err := peers[0].peer.Consensus.Peers(ctx); err != nil || len(ps) != 2 {
		t.Fatalf("peer0's peerset right after peer1 stopped: %v, %v; the test needs peer1 in it", ps, err)
	}
	if err := allInError(errorStatus(t, restPorts[0])); err != nil {
		t.Fatalf("with peer1 stopped: %s", err)
	}
}
