//go:build integration

package scyllastate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

func trackerError(n int, at time.Time) scyllastate.TrackerError {
	p := statetest.Pin(n)
	return scyllastate.TrackerError{
		Cid: p.Cid, Error: fmt.Sprintf("failure %d", n), Attempts: n % 5, FailedAt: at, Pin: p,
	}
}

// A peer's errors are stored, read one by one and listed whole (every
// partition, paged), apart from another peer's; a deletion older than
// the row loses, a newer one wins.
func TestTrackerErrorsAreStoredListedAndForgotten(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.PageSize = 7 // many pages per partition
	st := cqltest.New(t, cfg)
	ctx := testCtx(t)
	at := time.Now().Truncate(time.Millisecond)
	const n = 500
	for i := 1; i <= n; i++ {
		e := trackerError(i, at)
		e.Unpin = i%10 == 0
		if err := st.RecordTrackerError(ctx, "peer-a", e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordTrackerError(ctx, "peer-b", trackerError(1, at)); err != nil {
		t.Fatal(err)
	}

	got, found, err := st.TrackerError(ctx, "peer-a", statetest.Cid(10))
	if err != nil || !found {
		t.Fatalf("reading a stored error: %v, found %v", err, found)
	}
	want := trackerError(10, at)
	if !got.Unpin || got.Error != want.Error || got.Attempts != want.Attempts || !got.FailedAt.Equal(at) ||
		got.Pin.Name != want.Pin.Name || len(got.Pin.Allocations) != len(want.Pin.Allocations) {
		t.Fatalf("stored error %+v, want %+v (unpin)", got, want)
	}
	if _, found, err := st.TrackerError(ctx, "peer-c", statetest.Cid(10)); err != nil || found {
		t.Fatalf("another peer's error: found %v, %v", found, err)
	}

	listed := func(peer string) map[api.Cid]scyllastate.TrackerError {
		var mu sync.Mutex
		out := map[api.Cid]scyllastate.TrackerError{}
		if err := st.TrackerErrors(ctx, peer, func(e scyllastate.TrackerError) error {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := out[e.Cid]; dup {
				t.Errorf("%s listed twice", e.Cid)
			}
			out[e.Cid] = e
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a := listed("peer-a"); len(a) != n {
		t.Fatalf("peer-a lists %d errors, want %d", len(a), n)
	}
	if b := listed("peer-b"); len(b) != 1 {
		t.Fatalf("peer-b lists %d errors, want 1", len(b))
	}

	// A success older than the failure (statements arriving out of order)
	// leaves it; a newer one removes it.
	if err := st.ForgetTrackerError(ctx, "peer-a", statetest.Cid(3), at.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := st.TrackerError(ctx, "peer-a", statetest.Cid(3)); !found {
		t.Fatal("a deletion older than the failure removed it")
	}
	if err := st.ForgetTrackerError(ctx, "peer-a", statetest.Cid(3), at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := st.TrackerError(ctx, "peer-a", statetest.Cid(3)); found {
		t.Fatal("the error is still stored after a newer deletion")
	}
	if a := listed("peer-a"); len(a) != n-1 {
		t.Fatalf("peer-a lists %d errors after a deletion, want %d", len(a), n-1)
	}

	// An error from fn stops the listing.
	stop := errors.New("stop")
	if err := st.TrackerErrors(ctx, "peer-a", func(scyllastate.TrackerError) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("listing stopped by fn: %v", err)
	}
}

// atOnce calls f(1) to f(n) concurrently and returns the first error.
func atOnce(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f(i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Failures stored at once (as a sweep stores them, many workers at a
// time) go to the database together, in a few requests; so do their
// removals, each still ordered by its own time against the failure: a
// newer success removes the row, an older one leaves it.
func TestConcurrentTrackerErrorWritesShareRequests(t *testing.T) {
	st, log := observed(t, cqltest.Config(t, cqltest.DefaultPrefix))
	ctx := testCtx(t)
	at := time.Now().Truncate(time.Millisecond)
	const n = 256
	all := func(f func(i int) error) {
		t.Helper()
		if err := atOnce(n, f); err != nil {
			t.Fatal(err)
		}
	}
	requests := func() int { return len(log.matching("tracker_errors")) }

	all(func(i int) error { return st.RecordTrackerError(ctx, "peer-a", trackerError(i, at)) })
	got := requests()
	t.Logf("%d failures stored at once: %d database requests", n, got)
	if got > n/2 {
		t.Errorf("%d failures stored at once took %d database requests, want at most %d", n, got, n/2)
	}
	index := map[api.Cid]int{}
	for i := 1; i <= n; i++ {
		index[statetest.Cid(i)] = i
	}
	var (
		mu     sync.Mutex
		stored = map[int]bool{}
	)
	if err := st.TrackerErrors(ctx, "peer-a", func(e scyllastate.TrackerError) error {
		mu.Lock()
		defer mu.Unlock()
		i := index[e.Cid]
		if want := trackerError(i, at); i == 0 || e.Error != want.Error || !e.FailedAt.Equal(at) {
			return fmt.Errorf("stored %+v, want %+v", e, want)
		}
		stored[i] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != n {
		t.Fatalf("%d of the %d failures stored at once are listed", len(stored), n)
	}

	before := requests()
	all(func(i int) error {
		when := at.Add(time.Second) // a success after the failure
		if i%2 == 1 {
			when = at.Add(-time.Second) // one before it, arriving late
		}
		return st.ForgetTrackerError(ctx, "peer-a", statetest.Cid(i), when)
	})
	got = requests() - before
	t.Logf("%d removals at once: %d database requests", n, got)
	if got > n/2 {
		t.Errorf("%d removals at once took %d database requests, want at most %d", n, got, n/2)
	}
	for i := 1; i <= n; i++ {
		_, found, err := st.TrackerError(ctx, "peer-a", statetest.Cid(i))
		if err != nil {
			t.Fatal(err)
		}
		if want := i%2 == 1; found != want {
			t.Fatalf("error %d stored: %v, want %v (removed only by a success after it)", i, found, want)
		}
	}
}

// An error message that is not valid UTF-8 (the column is text) is
// stored with its invalid bytes replaced, and the failures stored at the
// same time, which may share its batch, are stored too.
func TestTrackerErrorWithInvalidUTF8IsStoredAlongWithOthers(t *testing.T) {
	st := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	ctx := testCtx(t)
	at := time.Now().Truncate(time.Millisecond)
	const n = 32
	if err := atOnce(n, func(i int) error {
		e := trackerError(i, at)
		if i == 1 {
			e.Error = "kubo said \xff\xfe"
		}
		return st.RecordTrackerError(ctx, "peer-a", e)
	}); err != nil {
		t.Fatalf("storing failures, one with a message that is not UTF-8: %v", err)
	}
	for i := 1; i <= n; i++ {
		e, found, err := st.TrackerError(ctx, "peer-a", statetest.Cid(i))
		if err != nil || !found {
			t.Fatalf("failure %d: found %v, %v", i, found, err)
		}
		if i == 1 && e.Error != "kubo said \uFFFD" {
			t.Fatalf("message stored as %q, want the invalid bytes replaced", e.Error)
		}
	}
}

// A keyspace of schema version 4 is upgraded to version 5 in place: its
// pins kept, the table of tracker errors added, builds of version 4 still
// accepted (min_compatible 4).
func TestVersion4KeyspaceIsUpgradedToVersion5(t *testing.T) {
	ctx := testCtx(t)
	cfg, s := emptyKeyspace(t)
	for _, f := range []string{
		"schema/cassandra/versioned/v1/schema.cql",
		"schema/cassandra/versioned/v2/update.cql",
		"schema/cassandra/versioned/v3/update.cql",
		"schema/cassandra/versioned/v4/update.cql",
	} {
		if err := scyllastate.ApplyCQLFile(s, cfg.Keyspace, f); err != nil {
			s.Close()
			t.Fatal(err)
		}
	}
	pins := v1Pins()
	writeLegacyPins(t, s, cfg.Keyspace, pins, time.Now())
	s.Close()

	check := *cfg
	check.SchemaMode = scyllastate.SchemaModeCheck
	if _, err := scyllastate.New(ctx, &check); !errors.Is(err, scyllastate.ErrSchema) {
		t.Fatalf("schema_mode check on a v4 keyspace: want a schema error, got %v", err)
	}
	st := cqltest.New(t, cfg)
	in, err := diag.Inspect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	v, err := in.SchemaVersion(ctx)
	if err != nil || v.Version != 5 || v.MinCompatible != 4 {
		t.Fatalf("schema version after the upgrade: %+v, %v (want 5, compatible with 4)", v, err)
	}
	if err := scyllastate.CheckSchemaVersion(cfg.Keyspace, v.Version, v.MinCompatible); err != nil {
		t.Fatal(err)
	}
	for _, p := range pins {
		if _, err := st.Get(ctx, p.Cid); err != nil {
			t.Fatalf("pin %s after the upgrade: %v", p.Cid, err)
		}
	}
	if err := st.RecordTrackerError(ctx, "peer-a", trackerError(1, time.Now())); err != nil {
		t.Fatalf("recording an error after the upgrade: %v", err)
	}
	if _, found, err := st.TrackerError(ctx, "peer-a", statetest.Cid(1)); err != nil || !found {
		t.Fatalf("reading it back: found %v, %v", found, err)
	}
	// Opening again changes nothing.
	cqltest.New(t, cfg)
}

// A merged listing of several peers' errors gives each CID in error once,
// with the error of every peer that stored one for it and of no other,
// across partitions and pages, and stops when fn fails.
func TestMergedTrackerErrorsGiveEachCidOnceWithEveryPeersError(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.PageSize = 3 // many pages per partition
	st := cqltest.New(t, cfg)
	ctx := testCtx(t)
	at := time.Now().Truncate(time.Millisecond)
	peers := []string{"peer-a", "peer-b", "peer-c"}
	// CID i is in error on peer j when i%(j+2) == 0; peer-d is not asked.
	const n = 400
	want := map[api.Cid][]string{}
	index := map[api.Cid]int{}
	for i := 1; i <= n; i++ {
		c := statetest.Cid(i)
		index[c] = i
		for j, p := range peers {
			if i%(j+2) != 0 {
				continue
			}
			e := trackerError(i, at)
			e.Error = fmt.Sprintf("%s failed %d", p, i)
			if err := st.RecordTrackerError(ctx, p, e); err != nil {
				t.Fatal(err)
			}
			want[c] = append(want[c], p)
		}
		if err := st.RecordTrackerError(ctx, "peer-d", trackerError(i, at)); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	got := map[api.Cid][]string{}
	err := st.MergedTrackerErrors(ctx, peers, func(c api.Cid, errs []scyllastate.PeerTrackerError) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[c]; dup {
			t.Errorf("%s given twice", c)
		}
		for _, e := range errs {
			if e.Cid != c || e.Error != fmt.Sprintf("%s failed %d", e.Peer, index[c]) {
				t.Errorf("%s: error of %s is %q for %s", c, e.Peer, e.Error, e.Cid)
			}
			got[c] = append(got[c], e.Peer)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d CIDs listed, want %d", len(got), len(want))
	}
	for c, w := range want {
		if fmt.Sprint(got[c]) != fmt.Sprint(w) {
			t.Fatalf("%s listed with the errors of %v, want %v", c, got[c], w)
		}
	}

	stop := errors.New("stop")
	if err := st.MergedTrackerErrors(ctx, peers, func(api.Cid, []scyllastate.PeerTrackerError) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("listing stopped by fn: %v", err)
	}
	// A listing whose caller goes away (a client that hangs up) stops.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := st.MergedTrackerErrors(cctx, peers, func(api.Cid, []scyllastate.PeerTrackerError) error {
		cancel()
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("listing whose context ended: %v, want context.Canceled", err)
	}
}
