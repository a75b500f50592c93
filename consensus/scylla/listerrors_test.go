package scylla

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/rpcproxy"
)

var errNoHosts = errors.New("full pinset listing aborted: gocql: no hosts available in the pool")

type failListKey struct{}

// failingListState is the shared pinset whose listing fails, for the
// calls whose context says so, after sending one pin (the database went
// down during the listing).
type failingListState struct{ *mapState }

func (s failingListState) List(ctx context.Context, out chan<- api.Pin) error {
	if ctx.Value(failListKey{}) == nil {
		return s.mapState.List(ctx, out)
	}
	defer close(out)
	s.mu.Lock()
	var first api.Pin
	for _, p := range s.pins {
		first = p
		break
	}
	s.mu.Unlock()
	out <- first
	return errNoHosts
}

// listFailingRig is a tracker rig whose upstream tracker reads the state
// as Consensus.State hands it out.
func listFailingRig(t *testing.T) *trackerRig {
	t.Helper()
	var r *trackerRig
	r = newTrackerRigOn(t, nil, func(ctx context.Context) (state.ReadOnly, error) {
		return recordListFailures(ctx, failingListState{r.state}), nil
	}, nil)
	r.ipfs.setBroken(false)
	for i := 1; i <= 3; i++ {
		r.pin(i)
	}
	eventually(t, "3 pins pinned", func() bool { return r.inMemory(opStatuses) == 0 })
	return r
}

func statusAllErr(ctx context.Context, w *tracker, filter api.TrackerStatus) (int, error) {
	out := make(chan api.PinInfo, 16)
	errc := make(chan error, 1)
	go func() { errc <- w.StatusAll(ctx, filter, out) }()
	n := 0
	for range out {
		n++
	}
	return n, <-errc
}

// A status of every pin whose listing of the shared pinset fails (the
// database is down) fails with that error, instead of looking like the
// status of an empty or smaller pinset.
func TestStatusAllFailsWhenThePinsetCannotBeListed(t *testing.T) {
	r := listFailingRig(t)
	failing := context.WithValue(context.Background(), failListKey{}, true)
	for what, filter := range map[string]api.TrackerStatus{
		"status":                       api.TrackerStatusUndefined,
		"status --filter pinned":       api.TrackerStatusPinned,
		"status --filter pinned,error": api.TrackerStatusPinned | api.TrackerStatusPinError,
	} {
		if _, err := statusAllErr(failing, r.w, filter); !errors.Is(err, errNoHosts) {
			t.Errorf("%s with the listing failing: error %v, want the listing's", what, err)
		}
		n, err := statusAllErr(context.Background(), r.w, filter)
		if err != nil || n != 3 {
			t.Errorf("%s: %d pins, %v; want 3, no error", what, n, err)
		}
	}
}

// Concurrent statuses each get the outcome of their own listing.
func TestStatusAllListingFailureStaysWithItsCall(t *testing.T) {
	r := listFailingRig(t)
	failing := context.WithValue(context.Background(), failListKey{}, true)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			filter := api.TrackerStatusUndefined
			if i%4 == 1 {
				filter = api.TrackerStatusPinned
			}
			if i%2 == 0 {
				if _, err := statusAllErr(failing, r.w, filter); !errors.Is(err, errNoHosts) {
					t.Errorf("failing listing %d: error %v, want the listing's", i, err)
				}
				return
			}
			if n, err := statusAllErr(context.Background(), r.w, filter); err != nil || n != 3 {
				t.Errorf("listing %d: %d pins, %v; want 3, no error", i, n, err)
			}
		}()
	}
	wg.Wait()
}

// fakeClusterStatus is the cluster's Cluster.StatusAll: it sends lines
// (none: every peer's status failed, or the pinset is empty).
type fakeClusterStatus struct{ lines []api.GlobalPinInfo }

// RecoverAll sends the same lines.
func (f *fakeClusterStatus) RecoverAll(_ context.Context, in <-chan struct{}, out chan<- api.GlobalPinInfo) error {
	defer close(out)
	for range in {
	}
	for _, l := range f.lines {
		out <- l
	}
	return nil
}

func (f *fakeClusterStatus) StatusAll(_ context.Context, in <-chan api.TrackerStatus, out chan<- api.GlobalPinInfo) error {
	defer close(out)
	for range in {
	}
	for _, l := range f.lines {
		out <- l
	}
	return nil
}

func clusterStatusAll(t *testing.T, lines []api.GlobalPinInfo, readable error, filter api.TrackerStatus) (int, error) {
	t.Helper()
	srv := rpc.NewServer(nil, "test")
	if err := srv.RegisterName("Cluster", &fakeClusterStatus{lines: lines}); err != nil {
		t.Fatal(err)
	}
	client := rpc.NewClientWithServer(nil, "test", srv)
	s := &ErrorStatusCluster{
		Cluster: rpcproxy.NewCluster(client),
		errs:    &errorStatusAPI{pinsetReadable: func(context.Context) error { return readable }},
	}
	in := make(chan api.TrackerStatus, 1)
	in <- filter
	close(in)
	out := make(chan api.GlobalPinInfo, 16)
	errc := make(chan error, 1)
	go func() { errc <- s.StatusAll(context.Background(), in, out) }()
	n := 0
	for range out {
		n++
	}
	return n, <-errc
}

// A cluster-wide status whose peers all failed to list the shared pinset
// (the database is down: upstream's cluster then has no CID to list their
// errors on) fails, instead of answering as for an empty pinset.
func TestClusterStatusFailsWhenNoPeerCouldListThePinset(t *testing.T) {
	if _, err := clusterStatusAll(t, nil, errNoHosts, api.TrackerStatusUndefined); !errors.Is(err, errNoHosts) {
		t.Fatalf("status with the database down: error %v, want the database's", err)
	}
	if _, err := clusterStatusAll(t, nil, errNoHosts, api.TrackerStatusPinned); !errors.Is(err, errNoHosts) {
		t.Fatalf("status --filter pinned with the database down: error %v, want the database's", err)
	}
	// An empty pinset, or statuses of operations only: no error.
	if n, err := clusterStatusAll(t, nil, nil, api.TrackerStatusUndefined); n != 0 || err != nil {
		t.Fatalf("status of an empty pinset: %d lines, %v", n, err)
	}
	if n, err := clusterStatusAll(t, nil, errNoHosts, api.TrackerStatusPinQueued); n != 0 || err != nil {
		t.Fatalf("status --filter pin_queued: %d lines, %v", n, err)
	}
	// Lines were sent: upstream listed the failed peers on them.
	line := api.GlobalPinInfo{Cid: probeCid}
	if n, err := clusterStatusAll(t, []api.GlobalPinInfo{line}, errNoHosts, api.TrackerStatusUndefined); n != 1 || err != nil {
		t.Fatalf("status with lines: %d lines, %v; want 1, no error", n, err)
	}
}

// A cluster-wide recover whose peers all failed to read their stored
// errors (the database is down) fails, instead of answering as if no pin
// had failed; one of an empty pinset answers nothing.
func TestClusterRecoverFailsWhenNoPeerCouldReadThePinset(t *testing.T) {
	recoverAll := func(lines []api.GlobalPinInfo, readable error) (int, error) {
		srv := rpc.NewServer(nil, "test")
		if err := srv.RegisterName("Cluster", &fakeClusterStatus{lines: lines}); err != nil {
			t.Fatal(err)
		}
		s := &ErrorStatusCluster{
			Cluster: rpcproxy.NewCluster(rpc.NewClientWithServer(nil, "test", srv)),
			errs:    &errorStatusAPI{pinsetReadable: func(context.Context) error { return readable }},
		}
		in := make(chan struct{})
		close(in)
		out := make(chan api.GlobalPinInfo, 16)
		errc := make(chan error, 1)
		go func() { errc <- s.RecoverAll(context.Background(), in, out) }()
		n := 0
		for range out {
			n++
		}
		return n, <-errc
	}
	if _, err := recoverAll(nil, errNoHosts); !errors.Is(err, errNoHosts) || !strings.Contains(err.Error(), "no peer recovered a pin") {
		t.Fatalf("recover with the database down: error %v, want the database's", err)
	}
	if n, err := recoverAll(nil, nil); n != 0 || err != nil {
		t.Fatalf("recover with nothing to retry: %d lines, %v", n, err)
	}
	if n, err := recoverAll([]api.GlobalPinInfo{{Cid: probeCid}}, errNoHosts); n != 1 || err != nil {
		t.Fatalf("recover with lines: %d lines, %v; want 1, no error", n, err)
	}
}
