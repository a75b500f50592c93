//go:build scylla && integration

package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/test"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// listCount is the number of full listings of the shared pinset made by
// this process so far.
func listCount(t *testing.T) float64 {
	t.Helper()
	mfs, err := observations.PromRegistry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "ipfscluster_scyllastate_operation_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == "list" {
					total += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return total
}

// An expired pin is unpinned from the expiry index at every
// state_sync_interval; the idle peer never lists the whole pinset.
func TestExpiredPinIsUnpinnedWithoutAFullScan(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	db.MetricsEnabled = true
	p := &testPeer{dir: t.TempDir(), ipfs: test.NewIpfsMock(t)}
	t.Cleanup(p.ipfs.Close)
	writeConfigWith(t, p.dir, db, p.ipfs, "expiry", func(c *config.Configs) {
		c.Cluster.StateSyncInterval = time.Second
		c.Cluster.PinRecoverInterval = time.Second
		c.Metrics.EnableStats = true
	})
	p.start(t, service.Options{})
	t.Cleanup(func() { p.stop(t) })
	ctx := context.Background()

	opts := everywhere()
	opts.ExpireAt = time.Now().Add(3 * time.Second)
	expiring, kept := statetest.Cid(1), statetest.Cid(2)
	if _, err := p.peer.Cluster.Pin(ctx, expiring, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := p.peer.Cluster.Pin(ctx, kept, everywhere()); err != nil {
		t.Fatal(err)
	}
	lists := listCount(t)
	waitFor(t, 30*time.Second, "the expired pin leaves the pinset and IPFS", func() bool {
		_, err := p.peer.Cluster.PinGet(ctx, expiring)
		return err != nil && !p.pinnedInIPFS(t, expiring)
	})
	if _, err := p.peer.Cluster.PinGet(ctx, kept); err != nil || !p.pinnedInIPFS(t, kept) {
		t.Fatalf("the pin without expiry was touched: %v", err)
	}
	time.Sleep(3 * time.Second) // several state sync and recover intervals
	if n := listCount(t) - lists; n != 0 {
		t.Fatalf("%v full listings of the pinset while idle, want 0", n)
	}
}

// slowIPFS delays pin/add requests to the IPFS mock, as a daemon that
// fetches content would.
func slowIPFS(t *testing.T, mock *test.IpfsMock, delay time.Duration) ma.Multiaddr {
	t.Helper()
	target, _ := url.Parse(fmt.Sprintf("http://%s:%d", mock.Addr, mock.Port))
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v0/pin/add") {
			time.Sleep(delay)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return ma.StringCast("/ip4/127.0.0.1/tcp/" + u.Port())
}

// A first start with a large pinset allocated everywhere queues it at the
// pace of pinning: the tracker queue stays near pin_queue_limit, and every
// pin ends pinned.
func TestFirstStartQueuesAtThePaceOfPinning(t *testing.T) {
	const pins, limit = 1500, 40
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, db)
	ctx := context.Background()
	b := st.Batch()
	for i := range pins {
		p := statetest.Pin(i)
		p.Allocations = nil
		p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
		p.ExpireAt = time.Time{}
		if err := b.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	p := &testPeer{dir: t.TempDir(), ipfs: test.NewIpfsMock(t)}
	t.Cleanup(p.ipfs.Close)
	slow := slowIPFS(t, p.ipfs, 5*time.Millisecond)
	writeConfigWith(t, p.dir, db, p.ipfs, "first", func(c *config.Configs) {
		c.Ipfshttp.NodeAddr = slow
		c.Scylla.PinQueueLimit = limit
		c.Scylla.RecoverSlices = 10
	})
	p.start(t, service.Options{})
	t.Cleanup(func() { p.stop(t) })

	var peak atomic.Int64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n, err := p.peer.Tracker.PinQueueSize(ctx); err == nil && n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	stopPolling := sync.OnceFunc(func() { close(done); <-stopped })
	t.Cleanup(stopPolling) // runs before the cleanup that stops the peer
	took := waitFor(t, 3*time.Minute, "every pin of the pinset pinned in IPFS", func() bool {
		for _, i := range []int{0, pins / 2, pins - 1} {
			if !p.pinnedInIPFS(t, statetest.Cid(i)) {
				return false
			}
		}
		return pinnedCount(t, p) == pins
	})
	stopPolling()
	t.Logf("%d pins queued and pinned in %s; tracker queue peaked at %d (pin_queue_limit %d)", pins, took.Round(time.Millisecond), peak.Load(), limit)
	if peak.Load() > limit+20 {
		t.Fatalf("the tracker queue reached %d pins: not paced by pin_queue_limit %d", peak.Load(), limit)
	}
}

// pinnedCount counts the pins of the peer's IPFS mock.
func pinnedCount(t *testing.T, p *testPeer) int {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://%s:%d/api/v0/pin/ls", p.ipfs.Addr, p.ipfs.Port), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all struct{ Keys map[string]json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	return len(all.Keys)
}
