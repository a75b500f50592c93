//go:build integration

package scylla

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/pintracker/stateless"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The tracker wrapper on the real store: failed pins of upstream's
// tracker go to tracker_errors and leave its memory; status --filter
// error reads them back from any wrapper of the same peer (a restart);
// a recover whose retries succeed empties the table.
func TestTrackerErrorsWithTheStore(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	db.PageSize = 50
	st := cqltest.New(t, db)
	ctx := context.Background()
	self := statetest.PeerID(1)
	const n = 400
	for i := 1; i <= n; i++ {
		p := api.PinCid(statetest.Cid(i))
		p.Name = fmt.Sprintf("pin-%d", i)
		p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
		if err := st.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ipfs := &fakeIPFS{pinned: map[api.Cid]bool{}, unpins: map[api.Cid]int{}, broken: true}
	start := func() (*tracker, *stateless.Tracker) {
		cfg := &stateless.Config{}
		if err := cfg.Default(); err != nil {
			t.Fatal(err)
		}
		cfg.MaxPinQueueSize = 10000
		inner := stateless.New(cfg, self, "peer-one", func(context.Context) (state.ReadOnly, error) { return st, nil })
		w := newTracker(inner, self, "peer-one", func(context.Context) (errorStore, error) { return st, nil }, 1000)
		srv := rpc.NewServer(nil, "test")
		if err := srv.RegisterName("IPFSConnector", ipfs); err != nil {
			t.Fatal(err)
		}
		if err := srv.RegisterName("Cluster", fakeClusterRPC{}); err != nil {
			t.Fatal(err)
		}
		w.SetClient(rpc.NewClientWithServer(nil, "test", srv))
		return w, inner
	}
	rows := func() int {
		var c atomic.Int64
		if err := st.TrackerErrors(ctx, self.String(), func(scyllastate.TrackerError) error { c.Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
		return int(c.Load())
	}
	inMemory := func(inner *stateless.Tracker) int {
		ch := make(chan api.PinInfo, 1024)
		go func() { _ = inner.StatusAll(ctx, opStatuses, ch) }()
		k := 0
		for range ch {
			k++
		}
		return k
	}
	statusErrors := func(w *tracker) int {
		ch := make(chan api.PinInfo, 1024)
		errc := make(chan error, 1)
		go func() { errc <- w.StatusAll(ctx, api.TrackerStatusError, ch) }()
		k := 0
		for pi := range ch {
			if pi.Status != api.TrackerStatusPinError || pi.Name == "" {
				t.Errorf("status of a stored error: %+v", pi)
			}
			k++
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		return k
	}

	w, inner := start()
	for i := 1; i <= n; i++ {
		p, err := st.Get(ctx, statetest.Cid(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Track(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every failure stored and forgotten", func() bool { return rows() == n && inMemory(inner) == 0 })
	if k := statusErrors(w); k != n {
		t.Fatalf("StatusAll(error) sent %d, want %d", k, n)
	}
	_ = w.Shutdown(ctx)

	// A restart: the same peer reports its stored errors.
	w, _ = start()
	defer func() { _ = w.Shutdown(ctx) }()
	if k := statusErrors(w); k != n {
		t.Fatalf("StatusAll(error) after a restart sent %d, want %d", k, n)
	}
	if pi := w.Status(ctx, statetest.Cid(9)); pi.Status != api.TrackerStatusPinError {
		t.Fatalf("Status after a restart: %+v", pi)
	}
	eventually(t, "stored errors counted at start", func() bool { return w.errs.recorded.Load() == n })

	// IPFS works again: the recover retries them all, and they leave.
	ipfs.setBroken(false)
	ch := make(chan api.PinInfo, 1024)
	go func() { _ = w.RecoverAll(ctx, ch) }() // the cluster's call at start
	for range ch {
	}
	ch = make(chan api.PinInfo, 1024)
	errc := make(chan error, 1)
	go func() { errc <- w.RecoverAll(ctx, ch) }()
	k := 0
	for range ch {
		k++
	}
	if err := <-errc; err != nil || k != n {
		t.Fatalf("RecoverAll retried %d (%v), want %d", k, err, n)
	}
	eventually(t, "rows removed once pinned", func() bool { return rows() == 0 })
	time.Sleep(100 * time.Millisecond)
	if got := w.errs.recorded.Load(); got != 0 {
		t.Fatalf("pin errors counted after the recover: %d", got)
	}
}
