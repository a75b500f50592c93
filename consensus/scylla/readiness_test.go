package scylla

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// waitingConsensus is a component still waiting for its database: Ready
// is never closed, as while the database is unreachable at start.
func waitingConsensus(t *testing.T) *Consensus {
	t.Helper()
	cfg := &Config{}
	if err := cfg.Default(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Consensus{
		ctx:      ctx,
		cancel:   cancel,
		cfg:      cfg,
		stateCfg: &scyllastate.Config{Hosts: []string{"127.0.0.1:29999"}},
		readyCh:  make(chan struct{}),
	}
}

// waitingRig is a tracker wrapper made by c.wrapTracker, whose upstream
// tracker reads the state from c.State, as the daemon builds them.
func waitingRig(t *testing.T, c *Consensus) *trackerRig {
	t.Helper()
	return newTrackerRigOn(t, nil, c.State, func(inner ipfscluster.PinTracker, self peer.ID) *tracker {
		return c.wrapTracker(inner, self, "peer-one")
	})
}

// within runs call and fails the test unless it returns within 2s (a
// peer waiting for its database would hold it up to ready_timeout).
func within(t *testing.T, what string, call func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Second):
		t.Fatalf("%s: still waiting after 2s for a peer not ready", what)
		return nil
	}
}

func drainStatusAll(w *tracker, filter api.TrackerStatus) func(context.Context) error {
	return func(ctx context.Context) error {
		out := make(chan api.PinInfo, 16)
		errc := make(chan error, 1)
		go func() { errc <- w.StatusAll(ctx, filter, out) }()
		for range out {
		}
		return <-errc
	}
}

// A peer up but waiting for its database answers the cluster's status
// and recover calls at once, with an error saying why, instead of holding
// up the cluster-wide status until its database answers.
func TestTrackerCallsFailAtOnceWhileWaitingForTheDatabase(t *testing.T) {
	c := waitingConsensus(t)
	c.noteStartError("catching up with the change feed", errors.New("gocql: no hosts available in the pool"))
	r := waitingRig(t, c)
	says := func(what, msg string) {
		t.Helper()
		for _, part := range []string{"peer not ready", "127.0.0.1:29999", "no hosts available"} {
			if !strings.Contains(msg, part) {
				t.Errorf("%s: error %q does not say %q", what, msg, part)
			}
		}
	}
	notReady := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotReady) {
			t.Fatalf("%s: error %v, want ErrNotReady", what, err)
		}
		says(what, err.Error())
	}
	filters := map[string]api.TrackerStatus{
		"status":                 api.TrackerStatusUndefined,
		"status --filter pinned": api.TrackerStatusPinned,
		"status --filter error":  api.TrackerStatusError,
	}
	for what, filter := range filters {
		notReady(what, within(t, what, drainStatusAll(r.w, filter)))
	}

	cid := statetest.Cid(1)
	var pi api.PinInfo
	_ = within(t, "status <cid>", func(ctx context.Context) error { pi = r.w.Status(ctx, cid); return nil })
	if pi.Status != api.TrackerStatusClusterError || pi.Peer != r.self || pi.Cid != cid {
		t.Fatalf("status <cid> = %s for %s on %s, want cluster_error for %s on this peer", pi.Status, pi.Cid, pi.Peer, cid)
	}
	says("status <cid>", pi.Error)

	notReady("recover <cid>", within(t, "recover <cid>", func(ctx context.Context) error {
		_, err := r.w.Recover(ctx, cid)
		return err
	}))
	// The cluster's own recover at start is answered with nothing; a
	// recover asked for later fails.
	_ = within(t, "the start's recover", func(ctx context.Context) error { return r.w.RecoverAll(ctx, make(chan api.PinInfo)) })
	notReady("recover", within(t, "recover", func(ctx context.Context) error {
		out := make(chan api.PinInfo, 16)
		err := r.w.RecoverAll(ctx, out)
		for range out {
		}
		return err
	}))

	// Operations in memory need no database: listed as before.
	if err := within(t, "status --filter queued", drainStatusAll(r.w, api.TrackerStatusQueued)); err != nil {
		t.Fatalf("status --filter queued: %s", err)
	}
}

// Before any step of the start has failed, the error names the hosts the
// peer waits for; once ready there is none.
func TestNotReadyNamesTheDatabase(t *testing.T) {
	c := waitingConsensus(t)
	err := c.notReady()
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "127.0.0.1:29999") {
		t.Fatalf("notReady = %v, want ErrNotReady naming 127.0.0.1:29999", err)
	}
	close(c.readyCh)
	if err := c.notReady(); err != nil {
		t.Fatalf("notReady once ready = %s", err)
	}
	c.cancel()
	if err := c.notReady(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("notReady after shutdown = %v, want ErrShutdown", err)
	}
}

// A status asked while the peer starts (its REST API is up before the
// shared pinset is) waits for the start when it ends within the grace,
// and fails with ErrNotReady, not later, when it does not.
func TestNotReadyWaitsForAStartWithinTheGrace(t *testing.T) {
	c := waitingConsensus(t)
	c.readyGrace = 3 * time.Second
	go func() {
		time.Sleep(200 * time.Millisecond)
		close(c.readyCh)
	}()
	if err := c.notReady(); err != nil {
		t.Fatalf("a peer ready 200ms into a 3s grace: %v, want nil", err)
	}

	c = waitingConsensus(t)
	c.readyGrace = 300 * time.Millisecond
	start := time.Now()
	err := c.notReady()
	if took := time.Since(start); !errors.Is(err, ErrNotReady) || took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("a peer never ready: %v after %s, want ErrNotReady after the 300ms grace", err, took)
	}
}
