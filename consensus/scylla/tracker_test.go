package scylla

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/pintracker/stateless"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The tracker wrapper is tested around upstream's real stateless tracker,
// with a fake IPFS (the cluster's RPC) and an in-memory error store.

func (f *fakeCalls) RecoverErrors(context.Context) (int, error) { return 0, nil }

// mapState is the shared pinset as upstream's tracker reads it.
type mapState struct {
	mu   sync.Mutex
	pins map[api.Cid]api.Pin
}

func (s *mapState) List(ctx context.Context, out chan<- api.Pin) error {
	defer close(out)
	s.mu.Lock()
	pins := make([]api.Pin, 0, len(s.pins))
	for _, p := range s.pins {
		pins = append(pins, p)
	}
	s.mu.Unlock()
	for _, p := range pins {
		out <- p
	}
	return nil
}

func (s *mapState) Has(ctx context.Context, c api.Cid) (bool, error) {
	_, err := s.Get(ctx, c)
	return err == nil, nil
}

func (s *mapState) Get(ctx context.Context, c api.Cid) (api.Pin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pins[c]
	if !ok {
		return api.Pin{}, state.ErrNotFound
	}
	return p, nil
}

// fakeErrorStore keeps tracker errors as the table does: rows by peer and
// CID, each with its write timestamp (a delete older than the row loses).
type fakeErrorStore struct {
	*mapState
	mu      sync.Mutex
	rows    map[string]map[api.Cid]scyllastate.TrackerError
	fail    bool // every call fails
	records int
	forgets int
	reads   int // TrackerError calls
	// beforeRecord, when set, runs at the start of each
	// RecordTrackerError (without the lock).
	beforeRecord func()
}

func newFakeErrorStore(st *mapState) *fakeErrorStore {
	return &fakeErrorStore{mapState: st, rows: map[string]map[api.Cid]scyllastate.TrackerError{}}
}

var errDown = errors.New("database down")

func (s *fakeErrorStore) RecordTrackerError(_ context.Context, p string, e scyllastate.TrackerError) error {
	if s.beforeRecord != nil {
		s.beforeRecord()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errDown
	}
	s.records++
	if s.rows[p] == nil {
		s.rows[p] = map[api.Cid]scyllastate.TrackerError{}
	}
	if old, ok := s.rows[p][e.Cid]; ok && old.FailedAt.After(e.FailedAt) {
		return nil
	}
	s.rows[p][e.Cid] = e
	return nil
}

func (s *fakeErrorStore) ForgetTrackerError(_ context.Context, p string, c api.Cid, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errDown
	}
	s.forgets++
	if old, ok := s.rows[p][c]; ok && !old.FailedAt.After(at) {
		delete(s.rows[p], c)
	}
	return nil
}

func (s *fakeErrorStore) TrackerError(_ context.Context, p string, c api.Cid) (scyllastate.TrackerError, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.fail {
		return scyllastate.TrackerError{}, false, errDown
	}
	e, ok := s.rows[p][c]
	return e, ok, nil
}

func (s *fakeErrorStore) TrackerErrors(ctx context.Context, p string, fn func(scyllastate.TrackerError) error) error {
	s.mu.Lock()
	if s.fail {
		s.mu.Unlock()
		return errDown
	}
	var es []scyllastate.TrackerError
	for _, e := range s.rows[p] {
		es = append(es, e)
	}
	s.mu.Unlock()
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeErrorStore) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows[p])
}

func (s *fakeErrorStore) row(p string, c api.Cid) (scyllastate.TrackerError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.rows[p][c]
	return e, ok
}

func (s *fakeErrorStore) setFail(v bool) {
	s.mu.Lock()
	s.fail = v
	s.mu.Unlock()
}

// fakeIPFS is the IPFS connector of the cluster's RPC: pins and unpins
// fail while broken.
type fakeIPFS struct {
	gate   chan struct{} // when set, Unpin waits until it is closed
	mu     sync.Mutex
	broken bool
	down   bool // PinLsCid fails too: the daemon does not answer
	noList bool // PinLs fails
	pinned map[api.Cid]bool
	direct map[api.Cid]bool // pinned in direct mode
	unpins map[api.Cid]int
}

func (f *fakeIPFS) Pin(_ context.Context, in api.Pin, _ *struct{}) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken {
		return errors.New("cannot fetch " + in.Cid.String())
	}
	f.pinned[in.Cid] = true
	return nil
}

func (f *fakeIPFS) Unpin(_ context.Context, in api.Pin, _ *struct{}) error {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unpins[in.Cid]++
	if f.broken {
		return errors.New("cannot unpin " + in.Cid.String())
	}
	delete(f.pinned, in.Cid)
	delete(f.direct, in.Cid)
	return nil
}

func (f *fakeIPFS) PinLsCid(_ context.Context, in api.Pin, out *api.IPFSPinStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("connection refused")
	}
	*out = api.IPFSPinStatusUnpinned
	switch {
	case f.pinned[in.Cid]:
		*out = api.IPFSPinStatusRecursive
	case f.direct[in.Cid]:
		*out = api.IPFSPinStatusDirect
	}
	return nil
}

func (f *fakeIPFS) PinLs(_ context.Context, in <-chan []string, out chan<- api.IPFSPinInfo) error {
	defer close(out)
	f.mu.Lock()
	if f.noList {
		f.mu.Unlock()
		return errors.New("pin/ls: connection refused")
	}
	// As the daemon's connector (service.pinLsEachType): the pins of
	// every type asked.
	var pins []api.IPFSPinInfo
	for _, typ := range <-in {
		for c := range f.pinned {
			if typ == "recursive" || typ == "all" {
				pins = append(pins, api.IPFSPinInfo{Cid: c, Type: api.IPFSPinStatusRecursive})
			}
		}
		for c := range f.direct {
			if typ == "direct" || typ == "all" {
				pins = append(pins, api.IPFSPinInfo{Cid: c, Type: api.IPFSPinStatusDirect})
			}
		}
	}
	f.mu.Unlock()
	for _, pi := range pins {
		out <- pi
	}
	return nil
}

func (f *fakeIPFS) setBroken(v bool) {
	f.mu.Lock()
	f.broken = v
	f.mu.Unlock()
}

func (f *fakeIPFS) unpinCount(c api.Cid) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unpins[c]
}

type fakeClusterRPC struct{}

func (fakeClusterRPC) IPFSID(_ context.Context, _ peer.ID, out *api.IPFSID) error {
	*out = api.IPFSID{ID: "ipfs-self"}
	return nil
}

// trackerRig is a wrapper around upstream's tracker.
type trackerRig struct {
	t     *testing.T
	self  peer.ID
	state *mapState
	store *fakeErrorStore
	ipfs  *fakeIPFS
	inner *stateless.Tracker
	w     *tracker
}

func newTrackerRig(t *testing.T, store *fakeErrorStore) *trackerRig {
	t.Helper()
	return newTrackerRigOn(t, store, nil, nil)
}

// newTrackerRigOn is newTrackerRig whose upstream tracker gets the state
// from getState (nil: at once, the store's pinset) and whose wrapper is
// made by wrap (nil: newTracker over the store).
func newTrackerRigOn(t *testing.T, store *fakeErrorStore, getState func(context.Context) (state.ReadOnly, error), wrap func(ipfscluster.PinTracker, peer.ID) *tracker) *trackerRig {
	t.Helper()
	r := &trackerRig{t: t, self: statetest.PeerID(1), ipfs: &fakeIPFS{pinned: map[api.Cid]bool{}, unpins: map[api.Cid]int{}}}
	if store == nil {
		store = newFakeErrorStore(&mapState{pins: map[api.Cid]api.Pin{}})
	}
	r.store, r.state = store, store.mapState
	if getState == nil {
		getState = func(context.Context) (state.ReadOnly, error) { return r.state, nil }
	}
	if wrap == nil {
		wrap = func(t ipfscluster.PinTracker, self peer.ID) *tracker {
			return newTracker(t, self, "peer-one", func(context.Context) (errorStore, error) { return r.store, nil }, 1000)
		}
	}
	cfg := &stateless.Config{}
	if err := cfg.Default(); err != nil {
		t.Fatal(err)
	}
	cfg.MaxPinQueueSize = 10000
	r.inner = stateless.New(cfg, r.self, "peer-one", getState)
	r.w = wrap(r.inner, r.self)
	srv := rpc.NewServer(nil, "test")
	if err := srv.RegisterName("IPFSConnector", r.ipfs); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterName("Cluster", fakeClusterRPC{}); err != nil {
		t.Fatal(err)
	}
	r.w.SetClient(rpc.NewClientWithServer(nil, "test", srv))
	t.Cleanup(func() { _ = r.w.Shutdown(context.Background()) })
	return r
}

// pin adds a pin allocated to this peer to the shared pinset and tracks
// it.
func (r *trackerRig) pin(n int) api.Pin {
	r.t.Helper()
	p := api.PinCid(statetest.Cid(n))
	p.Name = fmt.Sprintf("pin-%d", n)
	p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
	r.state.mu.Lock()
	r.state.pins[p.Cid] = p
	r.state.mu.Unlock()
	if err := r.w.Track(context.Background(), p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// failPins pins 1..n with IPFS refusing them and waits until every
// failure is stored and gone from upstream's tracker. It returns the pins.
func (r *trackerRig) failPins(t *testing.T, n int) []api.Pin {
	t.Helper()
	r.ipfs.setBroken(true)
	pins := make([]api.Pin, 0, n)
	for i := 1; i <= n; i++ {
		pins = append(pins, r.pin(i))
	}
	self := r.self.String()
	eventually(t, fmt.Sprintf("%d failures stored", n), func() bool { return r.store.count(self) == n && r.inMemory(opStatuses) == 0 })
	return pins
}

func (r *trackerRig) unpinFromState(c api.Cid) {
	r.state.mu.Lock()
	delete(r.state.pins, c)
	r.state.mu.Unlock()
}

// inMemory counts the operations upstream's tracker holds.
func (r *trackerRig) inMemory(filter api.TrackerStatus) int {
	ch := make(chan api.PinInfo, 1024)
	go func() { _ = r.inner.StatusAll(context.Background(), filter, ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

func (r *trackerRig) statusAll(filter api.TrackerStatus) map[api.Cid]api.PinInfo {
	r.t.Helper()
	ch := make(chan api.PinInfo, 1024)
	errc := make(chan error, 1)
	go func() { errc <- r.w.StatusAll(context.Background(), filter, ch) }()
	got := map[api.Cid]api.PinInfo{}
	for pi := range ch {
		if _, dup := got[pi.Cid]; dup {
			r.t.Errorf("StatusAll sent %s twice", pi.Cid)
		}
		got[pi.Cid] = pi
	}
	if err := <-errc; err != nil {
		r.t.Fatal(err)
	}
	return got
}

func (r *trackerRig) recoverAll() int {
	r.t.Helper()
	ch := make(chan api.PinInfo, 1024)
	errc := make(chan error, 1)
	go func() { errc <- r.w.RecoverAll(context.Background(), ch) }()
	n := 0
	for range ch {
		n++
	}
	if err := <-errc; err != nil {
		r.t.Fatal(err)
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pins that fail leave the tracker's memory for the database, without
// any call to IPFS to forget them, and are still reported: by Status and
// by StatusAll filtered on errors.
func TestFailedPinsLeaveTheTrackerMemoryForTheDatabase(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.ipfs.setBroken(true)
	const n = 300
	for i := 1; i <= n; i++ {
		r.pin(i)
	}
	self := r.self.String()
	eventually(t, "every failure stored and forgotten", func() bool {
		return r.store.count(self) == n && r.inMemory(opStatuses) == 0
	})
	for i := 1; i <= n; i++ {
		if u := r.ipfs.unpinCount(statetest.Cid(i)); u != 0 {
			t.Fatalf("forgetting the operation of %s sent %d unpins to IPFS", statetest.Cid(i), u)
		}
	}
	e, _ := r.store.row(self, statetest.Cid(7))
	if e.Unpin || e.Error == "" || e.Pin.Name != "pin-7" || e.FailedAt.IsZero() {
		t.Fatalf("stored error of pin 7: %+v", e)
	}
	got := r.statusAll(api.TrackerStatusError)
	if len(got) != n {
		t.Fatalf("StatusAll(error) sent %d, want %d", len(got), n)
	}
	for c, pi := range got {
		if pi.Status != api.TrackerStatusPinError || pi.Error == "" || pi.Peer != r.self || pi.PeerName != "peer-one" || pi.IPFS != "ipfs-self" {
			t.Fatalf("status of %s: %+v", c, pi)
		}
	}
	if pi := r.w.Status(context.Background(), statetest.Cid(3)); pi.Status != api.TrackerStatusPinError || pi.Name != "pin-3" {
		t.Fatalf("Status of a stored error: %+v", pi)
	}
	// The whole listing shows the stored error, not unexpectedly_unpinned.
	all := r.statusAll(api.TrackerStatusUndefined)
	if pi := all[statetest.Cid(3)]; pi.Status != api.TrackerStatusPinError {
		t.Fatalf("full StatusAll of a stored error: %+v", pi)
	}
	if got := r.w.errs.recorded.Load(); got != n {
		t.Fatalf("pin errors counted for the gauge: %d, want %d", got, n)
	}
	// status --filter error reads the stored errors, not the pinset.
	r.state.mu.Lock()
	r.state.pins = map[api.Cid]api.Pin{}
	r.state.mu.Unlock()
	if got := r.statusAll(api.TrackerStatusError); len(got) != n {
		t.Fatalf("StatusAll(error) without the pinset sent %d, want %d", len(got), n)
	}
}

// A stored error whose retry succeeds leaves the table, and the pin is
// pinned; the cluster's first RecoverAll (at start) does nothing.
func TestRecoveredPinLeavesTheTable(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.failPins(t, 20)
	self := r.self.String()
	r.ipfs.setBroken(false)
	if n := r.recoverAll(); n != 0 {
		t.Fatalf("the first RecoverAll (the cluster's, at start) retried %d", n)
	}
	if n := r.recoverAll(); n != 20 {
		t.Fatalf("RecoverAll retried %d, want 20", n)
	}
	eventually(t, "rows removed after the retries succeeded", func() bool { return r.store.count(self) == 0 })
	if pi := r.w.Status(context.Background(), statetest.Cid(4)); pi.Status != api.TrackerStatusPinned {
		t.Fatalf("status after recover: %+v", pi)
	}
	if got := len(r.statusAll(api.TrackerStatusError)); got != 0 {
		t.Fatalf("%d errors listed after recover", got)
	}
	if got := r.w.errs.recorded.Load(); got != 0 {
		t.Fatalf("pin errors counted for the gauge after recover: %d", got)
	}
}

// Recover of one CID retries its stored error.
func TestRecoverOfOneCidRetriesItsStoredError(t *testing.T) {
	r := newTrackerRig(t, nil)
	p := r.failPins(t, 1)[0]
	self := r.self.String()
	r.ipfs.setBroken(false)
	if _, err := r.w.Recover(context.Background(), p.Cid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "row removed", func() bool { return r.store.count(self) == 0 })
}

// With IPFS down, the status of a pin whose error was moved to the
// database is that error (upstream, which kept it, answers with it before
// asking IPFS), not the cluster_error of asking IPFS.
func TestStoredErrorShownWhileIPFSIsDown(t *testing.T) {
	r := newTrackerRig(t, nil)
	p := r.failPins(t, 1)[0]
	r.ipfs.mu.Lock()
	r.ipfs.down = true
	r.ipfs.mu.Unlock()
	pi := r.w.Status(context.Background(), p.Cid)
	if pi.Status != api.TrackerStatusPinError || !strings.Contains(pi.Error, "cannot fetch") {
		t.Fatalf("status with IPFS down: %s %q, want pin_error with the stored error", pi.Status, pi.Error)
	}
}

// A pin in error that is unpinned leaves the table once the unpin is done.
func TestUnpinnedErrorLeavesTheTable(t *testing.T) {
	r := newTrackerRig(t, nil)
	p := r.failPins(t, 1)[0]
	self := r.self.String()
	r.ipfs.setBroken(false)
	r.unpinFromState(p.Cid)
	if err := r.w.Untrack(context.Background(), p.Cid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "row removed after the unpin", func() bool { return r.store.count(self) == 0 })
	// The gauge counts the pin error the unpin removed (the operation that
	// succeeded was an unpin, the row a pin error).
	if got := r.w.errs.recorded.Load(); got != 0 {
		t.Fatalf("pin errors counted for the gauge after the unpin: %d, want 0", got)
	}
}

// A failed unpin is stored as an unpin error and retried by Recover.
func TestFailedUnpinIsStoredAndRecovered(t *testing.T) {
	r := newTrackerRig(t, nil)
	p := r.pin(1)
	eventually(t, "pinned", func() bool { return r.w.Status(context.Background(), p.Cid).Status == api.TrackerStatusPinned })
	r.ipfs.setBroken(true)
	r.unpinFromState(p.Cid)
	if err := r.w.Untrack(context.Background(), p.Cid); err != nil {
		t.Fatal(err)
	}
	self := r.self.String()
	eventually(t, "unpin failure stored", func() bool { return r.store.count(self) == 1 && r.inMemory(opStatuses) == 0 })
	if pi := r.w.Status(context.Background(), p.Cid); pi.Status != api.TrackerStatusUnpinError {
		t.Fatalf("status of a failed unpin: %+v", pi)
	}
	if got := r.statusAll(api.TrackerStatusUnpinError); len(got) != 1 {
		t.Fatalf("StatusAll(unpin_error): %v", got)
	}
	if got := r.statusAll(api.TrackerStatusPinError); len(got) != 0 {
		t.Fatalf("StatusAll(pin_error) lists an unpin error: %v", got)
	}
	r.ipfs.setBroken(false)
	if _, err := r.w.Recover(context.Background(), p.Cid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unpin retried and row removed", func() bool { return r.store.count(self) == 0 })
	r.ipfs.mu.Lock()
	pinned := r.ipfs.pinned[p.Cid]
	r.ipfs.mu.Unlock()
	if pinned {
		t.Fatal("still pinned in IPFS after the recovered unpin")
	}
}

// A peer that restarts reports the errors it stored before: the stored
// rows are its errors, counted again for the gauge.
func TestRestartedPeerReportsItsStoredErrors(t *testing.T) {
	first := newTrackerRig(t, nil)
	first.failPins(t, 10)
	_ = first.w.Shutdown(context.Background())

	again := newTrackerRig(t, first.store)
	eventually(t, "stored errors loaded", func() bool { return again.w.errs.recorded.Load() == 10 })
	if got := len(again.statusAll(api.TrackerStatusError)); got != 10 {
		t.Fatalf("%d errors after a restart, want 10", got)
	}
	if pi := again.w.Status(context.Background(), statetest.Cid(5)); pi.Status != api.TrackerStatusPinError {
		t.Fatalf("Status after a restart: %+v", pi)
	}
}

// While the database refuses writes, failed operations stay in memory
// (upstream's behaviour) and are still listed; they move once it works.
func TestErrorsStayInMemoryWhileTheDatabaseFails(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.store.setFail(true)
	r.ipfs.setBroken(true)
	for i := 1; i <= 5; i++ {
		r.pin(i)
	}
	eventually(t, "failures in memory", func() bool { return r.inMemory(errorStatuses) == 5 })
	time.Sleep(2 * sweepEvery)
	if got := r.inMemory(errorStatuses); got != 5 {
		t.Fatalf("%d failures in memory while the database fails, want 5", got)
	}
	r.store.setFail(false)
	self := r.self.String()
	eventually(t, "failures moved", func() bool { return r.store.count(self) == 5 && r.inMemory(opStatuses) == 0 })
}

// A CID tracked again while its error waits to be swept is not forgotten:
// the new operation stays.
func TestOperationRetriedBeforeTheSweepIsKept(t *testing.T) {
	r := newTrackerRig(t, nil)
	r.store.setFail(true) // the sweep cannot move the failure
	r.ipfs.setBroken(true)
	p := r.pin(1)
	eventually(t, "failure in memory", func() bool { return r.inMemory(errorStatuses) == 1 })
	r.ipfs.setBroken(false)
	if err := r.w.Track(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pinned", func() bool { return r.w.Status(context.Background(), p.Cid).Status == api.TrackerStatusPinned })
	r.store.setFail(false)
	time.Sleep(2 * sweepEvery)
	if n := r.store.count(r.self.String()); n != 0 {
		t.Fatalf("%d rows stored for a pin that succeeded", n)
	}
}

// A pin's first failure is stored without reading a previous row (the
// filter, once loaded, knows there is none); a second failure of the same
// pins reads it, so the gauge counts each pin once.
func TestFirstFailureIsStoredWithoutARead(t *testing.T) {
	r := newTrackerRig(t, nil)
	eventually(t, "the filter loaded", func() bool { return !r.w.errs.mayHave(statetest.Cid(999)) })
	const n = 50
	r.failPins(t, n)
	r.store.mu.Lock()
	reads := r.store.reads
	r.store.mu.Unlock()
	if reads != 0 {
		t.Fatalf("storing %d first failures read the table %d times, want 0", n, reads)
	}
	if got := r.w.errs.recorded.Load(); got != n {
		t.Fatalf("pin errors counted: %d, want %d", got, n)
	}
	// The same pins fail again: each replaces its row.
	for i := 1; i <= n; i++ {
		r.pin(i)
	}
	self := r.self.String()
	eventually(t, "second failures stored", func() bool {
		r.store.mu.Lock()
		defer r.store.mu.Unlock()
		return r.store.records == 2*n && r.inMemory(opStatuses) == 0
	})
	if got, rows := r.w.errs.recorded.Load(), r.store.count(self); got != n || rows != n {
		t.Fatalf("after a second failure of each pin: %d pin errors counted, %d rows; want %d and %d", got, rows, n, n)
	}
}

// A failure whose row is written while a full read of the table runs,
// after the read passed it, is still in the filter the read makes: when
// the pin then succeeds, its stored error is deleted, not left behind.
func TestFailureStoredDuringAFullReadIsDeletedOnSuccess(t *testing.T) {
	store := newFakeErrorStore(&mapState{pins: map[api.Cid]api.Pin{}})
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store.beforeRecord = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	released := false
	free := func() {
		if !released {
			released = true
			close(release)
		}
	}
	r := newTrackerRig(t, store)
	t.Cleanup(free) // before the rig's shutdown, which waits for the sweep
	eventually(t, "the filter loaded", func() bool { return !r.w.errs.mayHave(statetest.Cid(999)) })
	r.ipfs.setBroken(true)
	p := r.pin(1)
	select {
	case <-entered: // the sweep stores the failure: in the filter, not in the table yet
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep did not store the failure within 10s")
	}
	if err := r.w.errs.fullRead(context.Background(), store, func(scyllastate.TrackerError) error { return nil }); err != nil {
		t.Fatal(err)
	}
	free()
	self := r.self.String()
	eventually(t, "the failure stored", func() bool { return store.count(self) == 1 && r.inMemory(opStatuses) == 0 })
	r.ipfs.setBroken(false)
	if err := r.w.Track(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pinned", func() bool { return r.w.Status(context.Background(), p.Cid).Status == api.TrackerStatusPinned })
	eventually(t, "the stored error deleted", func() bool { return store.count(self) == 0 })
}

func TestCidFilterHasNoFalseNegatives(t *testing.T) {
	f := newCidFilter(false)
	for i := range 5000 {
		if f.add(statetest.Cid(i)) && i < 10 {
			t.Logf("false positive at %d", i)
		}
	}
	for i := range 5000 {
		if !f.maybe(statetest.Cid(i)) {
			t.Fatalf("CID %d added and not found", i)
		}
	}
	fp := 0
	for i := 5000; i < 105000; i++ {
		if f.maybe(statetest.Cid(i)) {
			fp++
		}
	}
	if fp > 100 {
		t.Fatalf("%d false positives in 100000 at 5000 CIDs", fp)
	}
	if !newCidFilter(true).maybe(statetest.Cid(1)) {
		t.Fatal("an unloaded filter must answer maybe")
	}
}

// remotePin is pin n allocated to another peer.
func (r *trackerRig) remotePin(n int) api.Pin {
	p := api.PinCid(statetest.Cid(n))
	p.ReplicationFactorMin, p.ReplicationFactorMax = 1, 1
	p.Allocations = []peer.ID{statetest.PeerID(2)}
	r.state.mu.Lock()
	r.state.pins[p.Cid] = p
	r.state.mu.Unlock()
	return p
}

// heldRemotePin is remotePin n, which IPFS holds (pinned here before it
// went to another peer): its tracking must unpin it.
func (r *trackerRig) heldRemotePin(n int) api.Pin {
	p := r.remotePin(n)
	r.ipfs.mu.Lock()
	r.ipfs.pinned[p.Cid] = true
	r.ipfs.mu.Unlock()
	return p
}

// heldRemotePins is heldRemotePin 1..n, all held before any is tracked
// (as pins held before the wrapper lists IPFS's pins).
func (r *trackerRig) heldRemotePins(n int) []api.Pin {
	pins := make([]api.Pin, n)
	for i := range pins {
		pins[i] = r.heldRemotePin(i + 1)
	}
	return pins
}

// A pin allocated to other peers makes upstream's tracker unpin it from
// IPFS; with an IPFS that does not answer, the caller (a reader of the
// change feed) must not wait: the wrapper's workers make the call.
func TestRemotePinDoesNotWaitForIPFS(t *testing.T) {
	r := newTrackerRig(t, nil)
	gate := make(chan struct{})
	r.ipfs.gate = gate
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	pins := r.heldRemotePins(2 * remoteWorkers)
	for n := 1; n <= 2*remoteWorkers; n++ {
		done := make(chan error, 1)
		p := pins[n-1]
		go func() { done <- r.w.Track(context.Background(), p) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Track of remote pin %d waited for IPFS", n)
		}
	}
	close(gate)
	eventually(t, "every remote pin unpinned from IPFS", func() bool {
		for n := 1; n <= 2*remoteWorkers; n++ {
			if r.ipfs.unpinCount(statetest.Cid(n)) != 1 {
				return false
			}
		}
		return true
	})
}

// A change made after a remote pin's call was queued wins: the CID pinned
// here later must not be unpinned by the older, queued call.
func TestLaterChangeSupersedesQueuedRemoteCall(t *testing.T) {
	r := newTrackerRig(t, nil)
	gate := make(chan struct{})
	r.ipfs.gate = gate
	const x = 100
	pins := r.heldRemotePins(remoteWorkers)
	later := r.heldRemotePin(x)
	// Occupy every worker with a call that waits on IPFS.
	for _, p := range pins {
		if err := r.w.Track(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the workers busy", func() bool {
		r.w.remote.pendingMu.Lock()
		defer r.w.remote.pendingMu.Unlock()
		return len(r.w.remote.pending) == 0
	})
	if err := r.w.Track(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	p := r.pin(x) // now allocated here: tracked and pinned at once
	close(gate)
	eventually(t, "the workers idle", func() bool {
		for n := 1; n <= remoteWorkers; n++ {
			if r.ipfs.unpinCount(statetest.Cid(n)) != 1 {
				return false
			}
		}
		return true
	})
	eventually(t, "the later pin pinned", func() bool {
		r.ipfs.mu.Lock()
		defer r.ipfs.mu.Unlock()
		return r.ipfs.pinned[p.Cid]
	})
	time.Sleep(100 * time.Millisecond) // a stray queued call would run now
	if n := r.ipfs.unpinCount(p.Cid); n != 0 {
		t.Fatalf("the queued remote call ran after the later pin: %d unpin(s) of %s", n, p.Cid)
	}
	r.ipfs.mu.Lock()
	defer r.ipfs.mu.Unlock()
	if !r.ipfs.pinned[p.Cid] {
		t.Fatalf("%s is not pinned in IPFS", p.Cid)
	}
}
