//go:build integration

package scyllastate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlproxy"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// Failures stored at once whose responses are lost (the database wrote
// them) are each reported as failed, not as stored: the caller keeps the
// operation and stores it again. Stored again once the database answers,
// each CID has one row, with its failure.
func TestTrackerErrorWritesWhoseResponsesAreLostFailThenStoreOnce(t *testing.T) {
	ctx := testCtx(t)
	reader, st, proxy := proxiedWithReader(t, "errors-lost")
	at := time.Now().Truncate(time.Millisecond)
	const n = 16

	proxy.DropResponsesWhere(cqlproxy.StatementContains("tracker_errors"))
	var (
		mu        sync.Mutex
		succeeded []int
	)
	_ = atOnce(n, func(i int) error {
		if err := st.RecordTrackerError(ctx, "peer-a", trackerError(i, at)); err == nil {
			mu.Lock()
			succeeded = append(succeeded, i)
			mu.Unlock()
		}
		return nil
	})
	if proxy.Stats().ResponsesDropped == 0 {
		t.Fatal("the proxy dropped no response: no write of unknown outcome was produced")
	}
	if len(succeeded) > 0 {
		t.Fatalf("failures %v reported stored although no response came back", succeeded)
	}
	landed := 0
	for i := 1; i <= n; i++ {
		if _, found, err := reader.TrackerError(ctx, "peer-a", statetest.Cid(i)); err != nil {
			t.Fatal(err)
		} else if found {
			landed++
		}
	}
	if landed == 0 {
		t.Fatal("no failure reached the database: the fault did not produce a write that lands")
	}

	proxy.Pass()
	if err := atOnce(n, func(i int) error { return st.RecordTrackerError(ctx, "peer-a", trackerError(i, at)) }); err != nil {
		t.Fatalf("storing again once the database answers: %v", err)
	}
	rows := map[int]scyllastate.TrackerError{}
	var rmu sync.Mutex
	if err := reader.TrackerErrors(ctx, "peer-a", func(e scyllastate.TrackerError) error {
		rmu.Lock()
		defer rmu.Unlock()
		for i := 1; i <= n; i++ {
			if statetest.Cid(i).Equals(e.Cid) {
				if _, dup := rows[i]; dup {
					t.Errorf("failure %d listed twice", i)
				}
				rows[i] = e
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		e, ok := rows[i]
		if want := trackerError(i, at); !ok || e.Error != want.Error || !e.FailedAt.Equal(at) || e.Attempts != want.Attempts {
			t.Fatalf("failure %d stored as %+v (listed %v), want %+v", i, e, ok, want)
		}
	}
}

// A caller that gives up while its write is in flight waits for the
// outcome (bounded by the driver's timeout) instead of returning at once:
// a write reported as failed is never still on its way to the database,
// which the stored-error filter relies on.
func TestTrackerErrorWriteInFlightIsWaitedForWhenItsCallerGivesUp(t *testing.T) {
	ctx := testCtx(t)
	reader, st, proxy := proxiedWithReader(t, "errors-held")
	at := time.Now().Truncate(time.Millisecond)

	proxy.HoldResponsesWhere(cqlproxy.StatementContains("tracker_errors"))
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.RecordTrackerError(callCtx, "peer-a", trackerError(1, at)) }()
	waitFor(t, 10*time.Second, "the write's response held by the proxy", func() bool { return proxy.Stats().ResponsesHeld > 0 })

	cancel()
	select {
	case err := <-done:
		t.Fatalf("the call returned (%v) when its caller gave up, while its write was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	proxy.Pass()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the write was answered once released, but the call returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return within 10s of the response's release")
	}
	if _, found, err := reader.TrackerError(ctx, "peer-a", statetest.Cid(1)); err != nil || !found {
		t.Fatalf("the failure reported stored is not in the database: found %v, %v", found, err)
	}
}
