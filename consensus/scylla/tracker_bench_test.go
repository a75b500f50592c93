//go:build integration

package scylla

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/pintracker/stateless"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// BenchmarkFailingPins measures a peer's memory with every pin failing
// (its IPFS refuses them all), upstream's tracker alone against the
// wrapper, and the time of status --filter error (StatusAll) over them.
// Pins are queued as a first start does: waiting while the tracker holds
// pin_queue_limit (10000) queued pins. Run one case per process for the
// RSS figures, e.g.
//
//	eval "$(scripts/cassandra.sh env)"
//	go test -tags scylla,integration -run '^$' -bench 'FailingPins/wrapped/100000$' -benchtime 1x ./consensus/scylla/
//
// FAILING_PINS (comma-separated) sets the counts (default 10000,100000).
func BenchmarkFailingPins(b *testing.B) {
	counts := []int{10000, 100000}
	if v := os.Getenv("FAILING_PINS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			counts = append(counts, n)
		}
	}
	for _, mode := range []string{"upstream", "wrapped"} {
		for _, n := range counts {
			b.Run(fmt.Sprintf("%s/%d", mode, n), func(b *testing.B) {
				for range b.N {
					failingPins(b, mode == "wrapped", n)
				}
			})
		}
	}
}

func failingPins(b *testing.B, wrapped bool, n int) {
	ctx := context.Background()
	db := cqltest.Config(b, cqltest.DefaultPrefix)
	st := cqltest.New(b, db)
	self := statetest.PeerID(1)
	ipfs := &fakeIPFS{pinned: map[api.Cid]bool{}, unpins: map[api.Cid]int{}, broken: true}
	cfg := &stateless.Config{}
	if err := cfg.Default(); err != nil {
		b.Fatal(err)
	}
	inner := stateless.New(cfg, self, "peer-one", func(context.Context) (state.ReadOnly, error) { return st, nil })
	var tr ipfscluster.PinTracker = inner
	if wrapped {
		tr = newTracker(inner, self, "peer-one", func(context.Context) (errorStore, error) { return st, nil }, 10000)
	}
	srv := rpc.NewServer(nil, "bench")
	if err := srv.RegisterName("IPFSConnector", ipfs); err != nil {
		b.Fatal(err)
	}
	if err := srv.RegisterName("Cluster", fakeClusterRPC{}); err != nil {
		b.Fatal(err)
	}
	tr.SetClient(rpc.NewClientWithServer(nil, "bench", srv))
	defer func() { _ = tr.Shutdown(ctx) }()

	start := time.Now()
	for i := 1; i <= n; i++ {
		for {
			q, _ := tr.PinQueueSize(ctx)
			if q < 10000 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		p := api.PinCid(statetest.Cid(i))
		p.Name = fmt.Sprintf("pin-%d", i)
		p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
		if err := tr.Track(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	errorsOf := func(t ipfscluster.PinTracker) int {
		ch := make(chan api.PinInfo, 1024)
		go func() {
			if err := t.StatusAll(ctx, api.TrackerStatusError, ch); err != nil {
				b.Error(err)
			}
		}()
		k := 0
		for range ch {
			k++
		}
		return k
	}
	// Every pin failed (and, wrapped, left memory).
	for stable := 0; stable < 3; time.Sleep(200 * time.Millisecond) {
		ch := make(chan api.PinInfo, 1024)
		go func() { _ = inner.StatusAll(ctx, opStatuses, ch) }()
		ops, errs := 0, 0
		for pi := range ch {
			ops++
			if pi.Status == api.TrackerStatusPinError {
				errs++
			}
		}
		switch {
		case !wrapped && errs == n, wrapped && ops == 0:
			stable++
		default:
			stable = 0
		}
	}
	settled := time.Since(start)
	if wrapped {
		var rows atomic.Int64
		_ = st.TrackerErrors(ctx, self.String(), func(scyllastate.TrackerError) error { rows.Add(1); return nil })
		if rows.Load() != int64(n) {
			b.Fatalf("%d rows stored, want %d", rows.Load(), n)
		}
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t0 := time.Now()
	listed := errorsOf(tr)
	statusTime := time.Since(t0)
	if listed != n {
		b.Fatalf("status --filter error listed %d, want %d", listed, n)
	}
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(rssMiB(), "rss-MiB")
	// What a long-running peer keeps once the runtime has returned the
	// freed pages (it does so within minutes on its own).
	debug.FreeOSMemory()
	b.ReportMetric(rssMiB(), "rss-freed-MiB")
	b.ReportMetric(statusTime.Seconds(), "status-error-s")
	b.ReportMetric(settled.Seconds(), "all-failed-s")
}

// rssMiB is the resident set of this process (VmRSS).
func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
