//go:build integration

package scylla

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/state"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

const (
	crashEnv      = "SCYLLA_CRASH_HELPER_KEYSPACE"
	crashLagEnv   = "SCYLLA_CRASH_HELPER_CLOCK_LAG"
	crashWriterID = "crashing-writer"
	crashExitCode = 3
)

// TestCrashingWriterHelper is not a test: run by TestWriterKilledBetween*
// in a child process, it pins 1 and unpins 2 in one group and exits
// between the events and the rows, as a killed process would.
func TestCrashingWriterHelper(t *testing.T) {
	ks := os.Getenv(crashEnv)
	if ks == "" {
		t.Skip("helper process only")
	}
	if lag := os.Getenv(crashLagEnv); lag != "" {
		d, err := time.ParseDuration(lag)
		if err != nil {
			t.Fatal(err)
		}
		defer seams.SetClock(func(string) func() time.Time { return seams.Offset(-d) })()
	}
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.Keyspace = ks
	defer seams.SetAfterEvents(func(writer string) {
		if writer == crashWriterID {
			os.Exit(crashExitCode)
		}
	})()
	st, err := scyllastate.New(context.Background(), cfg, scyllastate.WithWriterID(crashWriterID))
	if err != nil {
		t.Fatal(err)
	}
	b := st.Batch()
	if err := b.Add(context.Background(), statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Rm(context.Background(), statetest.Cid(2)); err != nil {
		t.Fatal(err)
	}
	_ = b.Commit(context.Background())
	t.Fatal("the writer did not crash between the events and the rows")
}

// crashWriter prepares a keyspace with pin 2, then runs a writer that
// dies between the events and the rows of pin 1 and unpin 2.
func crashWriter(t *testing.T) (*scyllastate.Config, *scyllastate.ScyllaState) {
	t.Helper()
	return crashWriterLagging(t, 0)
}

// crashWriterLagging is crashWriter with a writer whose clock runs lag
// behind: its events land behind the readers' positions.
func crashWriterLagging(t *testing.T, lag time.Duration) (*scyllastate.Config, *scyllastate.ScyllaState) {
	t.Helper()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, cfg)
	ctx := context.Background()
	if err := st.Add(ctx, statetest.Pin(2)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashingWriterHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+cfg.Keyspace)
	if lag != 0 {
		cmd.Env = append(cmd.Env, crashLagEnv+"="+lag.String())
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != crashExitCode {
		t.Fatalf("the writer did not die between the two writes (%v):\n%s", err, out)
	}
	// The crash left the events without their rows.
	if _, err := st.Get(ctx, statetest.Cid(1)); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("pin 1 has a row before any completion: %v", err)
	}
	if _, err := st.Get(ctx, statetest.Cid(2)); err != nil {
		t.Fatalf("pin 2 lost its row before any completion: %v", err)
	}
	return cfg, st
}

// checkCompleted checks the rows after completion: the changes of the
// dead writer happened.
func checkCompleted(t *testing.T, st *scyllastate.ScyllaState) {
	t.Helper()
	ctx := context.Background()
	p, err := st.Get(ctx, statetest.Cid(1))
	if err != nil {
		t.Fatalf("pin 1 not completed: %v", err)
	}
	if !p.Equals(statetest.Pin(1)) {
		t.Fatalf("pin 1 completed with another value: %+v", p)
	}
	if _, err := st.Get(ctx, statetest.Cid(2)); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("unpin 2 not completed: %v", err)
	}
	ws, err := st.Feed().Writers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ID == crashWriterID && !w.Closed {
			t.Fatalf("the dead writer is not marked done: %+v", w)
		}
	}
}

// A peer reading the feed applies the dead writer's changes from their
// events, without waiting for the rows.
func TestWriterKilledBetweenTheWritesIsSeenByReaders(t *testing.T) {
	_, st := crashWriter(t)
	tr := newFakeTracker()
	f := newFeed(st.Feed(), newApplier(peer.ID("reader"), tr, newStoreRows(st), nil, 0), feedSettings{
		reader: "reader", overlap: time.Minute, pollInterval: time.Second, checkpointInterval: time.Minute,
		concurrency: 2, readConcurrency: 2, retention: time.Hour, timeout: 10 * time.Second,
	}, nil)
	if err := st.Feed().SaveCheckpoint(context.Background(), "reader", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, _ := tr.state(statetest.Cid(1)); p == nil {
		t.Fatal("the reader did not track the dead writer's pin")
	}
	if p, seen := tr.state(statetest.Cid(2)); !seen || p != nil {
		t.Fatal("the reader did not untrack the dead writer's unpin")
	}
}

// The writer restarts: it completes its own unfinished changes before it
// reports ready.
func TestWriterKilledBetweenTheWritesCompletesOnRestart(t *testing.T) {
	_, st := crashWriter(t)
	rd := newRedo(st.Feed(), crashWriterID, time.Minute, 30*time.Second)
	if err := rd.own(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCompleted(t, st)
}

// The writer never comes back: once its heartbeat is stale, the live peer
// with the smallest ID completes its changes.
func TestWriterKilledBetweenTheWritesIsCompletedByAnotherPeer(t *testing.T) {
	_, st := crashWriter(t)
	ctx := context.Background()
	for _, id := range []string{"peer-b", "peer-a"} {
		if err := st.Feed().SaveCheckpoint(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	later := func() time.Time { return time.Now().Add(2 * scyllastate.WriterTimeout) }
	b := newRedo(st.Feed(), "peer-b", time.Minute, 30*time.Second)
	b.now = later
	if err := b.others(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, statetest.Cid(1)); !errors.Is(err, state.ErrNotFound) {
		t.Fatal("a peer that is not the chosen one completed the writes")
	}
	a := newRedo(st.Feed(), "peer-a", time.Minute, 30*time.Second)
	a.now = later
	a.aliveWithin = 3 * scyllastate.WriterTimeout
	b.aliveWithin = a.aliveWithin
	if err := a.others(ctx); err != nil {
		t.Fatal(err)
	}
	checkCompleted(t, st)
}

// A dead writer's events may land behind every reader's position (here
// its clock lags by 10 minutes): no sweep reads them. The peer that
// completes the writer announces each change again with a fresh event,
// which every reader then applies.
func TestDeadWritersLateChangesReachEveryReader(t *testing.T) {
	const lag = 10 * time.Minute
	_, st := crashWriterLagging(t, lag)
	ctx := context.Background()
	if err := st.Feed().SaveCheckpoint(ctx, "reader", time.Now()); err != nil {
		t.Fatal(err)
	}
	tr := newFakeTracker()
	reader := func() *feed {
		return newFeed(st.Feed(), newApplier(peer.ID("reader"), tr, newStoreRows(st), nil, 0), feedSettings{
			reader: "reader", overlap: time.Minute, pollInterval: time.Second, checkpointInterval: time.Minute,
			concurrency: 2, readConcurrency: 2, retention: time.Hour, timeout: 10 * time.Second,
		}, nil)
	}
	if _, err := reader().catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, seen := tr.state(statetest.Cid(1)); seen {
		t.Fatal("the reader read the lagging writer's events: they are not behind its position, the test shows nothing")
	}

	if err := st.Feed().SaveCheckpoint(ctx, "peer-a", time.Now()); err != nil {
		t.Fatal(err)
	}
	a := newRedo(st.Feed(), "peer-a", time.Minute, 30*time.Second)
	a.now = func() time.Time { return time.Now().Add(2 * scyllastate.WriterTimeout) }
	a.aliveWithin = 3 * scyllastate.WriterTimeout
	if err := a.others(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := st.Get(ctx, statetest.Cid(1)); err != nil || !p.Equals(statetest.Pin(1)) {
		t.Fatalf("pin 1 not completed: %v", err)
	}

	if _, err := reader().catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := tr.state(statetest.Cid(1)); p == nil {
		t.Fatal("the reader did not track the dead writer's pin: no fresh event announced it")
	}
	// The lagging writer's unpin of 2 is older (by its timestamp) than
	// the pin it meant to remove: the pin stays, in the row and for the
	// reader.
	if _, err := st.Get(ctx, statetest.Cid(2)); err != nil {
		t.Fatalf("pin 2, newer than the lagging unpin, lost its row: %v", err)
	}
	if p, _ := tr.state(statetest.Cid(2)); p == nil {
		t.Fatal("the reader untracked pin 2 for an unpin older than it")
	}
}
