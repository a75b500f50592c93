//go:build integration

package scyllastate_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlproxy"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// proxied opens a store whose every connection goes through a fault
// proxy in front of the test database, with short timeouts and one retry.
// Open another store on cfg first: it creates the schema, which DDL does
// not always do within these timeouts on a busy machine.
func proxied(t *testing.T, cfg *scyllastate.Config, writer string) (*scyllastate.ScyllaState, *cqlproxy.Proxy) {
	t.Helper()
	host := "127.0.0.1"
	if len(cfg.Hosts) > 0 {
		host = cfg.Hosts[0]
	}
	p, err := cqlproxy.New(net.JoinHostPort(host, strconv.Itoa(cfg.Port)))
	if err != nil {
		t.Fatal(err)
	}
	c := *cfg
	c.Timeout = time.Second
	rp := *cfg.RetryPolicy
	rp.NumRetries, rp.MinRetryDelay, rp.MaxRetryDelay = 1, 50*time.Millisecond, 100*time.Millisecond
	c.RetryPolicy = &rp
	st := cqltest.New(t, &c, scyllastate.WithWriterID(writer), scyllastate.WithClusterHook(p.ConfigureCluster))
	t.Cleanup(func() {
		p.Pass()
		_ = st.Close()
		_ = p.Close()
	})
	return st, p
}

// proxiedWithReader opens a store on a fresh keyspace with the usual
// timeouts (it creates the schema and reads what the database holds) and
// a store of writer behind a fault proxy (see proxied).
func proxiedWithReader(t *testing.T, writer string) (reader, st *scyllastate.ScyllaState, proxy *cqlproxy.Proxy) {
	t.Helper()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	reader = cqltest.New(t, cfg)
	t.Cleanup(func() { _ = reader.Close() })
	st, proxy = proxied(t, cfg, writer)
	return reader, st, proxy
}

// eventsOf returns the feed events of a CID since start.
func eventsOf(t *testing.T, st *scyllastate.ScyllaState, c api.Cid, start time.Time) []scyllastate.Event {
	t.Helper()
	var out []scyllastate.Event
	for _, e := range events(t, st, start, time.Now().Add(time.Hour)) {
		if e.Cid.Equals(c) {
			out = append(out, e)
		}
	}
	return out
}

// A pin whose event write times out although the database wrote it (the
// responses are lost): the caller is told the outcome is unknown, the
// writer's safe point stays before the change while it is unresolved,
// and once the database answers again the change is completed: its row
// is written and a fresh event announces it, so every reader applies a
// change whose row exists. Before, the change was dropped: the feed held
// it (every peer pinned it) while the pinset never did.
func TestAmbiguousEventWriteIsCompleted(t *testing.T) {
	ctx := testCtx(t)
	reader, st, proxy := proxiedWithReader(t, "ambiguous")

	// Register the writer first (its heartbeat goes through the proxy).
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	p := statetest.Pin(2)
	start := time.Now().Add(-time.Minute)
	proxy.DropResponsesWhere(cqlproxy.StatementContains("pin_events"))
	err := st.Add(ctx, p)
	if !errors.Is(err, scyllastate.ErrOutcomeUnknown) {
		t.Fatalf("Add whose event responses are lost: want ErrOutcomeUnknown, got %v", err)
	}
	if !strings.Contains(err.Error(), "may still happen") {
		t.Errorf("the error does not tell the change may still happen: %v", err)
	}
	if proxy.Stats().ResponsesDropped == 0 {
		t.Fatal("the proxy dropped no response: no ambiguous write was produced")
	}
	// The database did write the event: it is in the feed.
	evs := eventsOf(t, reader, p.Cid, start)
	if len(evs) == 0 {
		t.Fatal("the event was not written: the fault did not produce an ambiguous write")
	}
	ts := evs[0].WriteTime
	// While unresolved, the writer's heartbeats (not dropped) keep its
	// safe point before it.
	beatAfter := time.Now()
	waitFor(t, 3*scyllastate.HeartbeatInterval, "a heartbeat of the writer", func() bool {
		ws, err := reader.Feed().Writers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.ID == "ambiguous" && w.Heartbeat.After(beatAfter) {
				if w.SafeBefore.After(evs[0].Time()) {
					t.Fatalf("safe point %s passed an unresolved change (event at %s)", w.SafeBefore, evs[0].Time())
				}
				return true
			}
		}
		return false
	})
	if hasRow(t, ctx, reader, p.Cid) {
		t.Fatal("the row was written although the event was never confirmed")
	}
	proxy.Pass()
	// Completed: the row, and a fresh event of the same change.
	waitFor(t, 30*time.Second, "the row of the ambiguous change", func() bool { return hasRow(t, ctx, reader, p.Cid) })
	rv, err := reader.ReadVersion(ctx, p.Cid)
	if err != nil || !rv.Found || rv.WriteTime != ts {
		t.Fatalf("row %+v (%v), want the pin with write time %d", rv, err, ts)
	}
	waitFor(t, 30*time.Second, "a fresh event announcing the late change", func() bool {
		evs = eventsOf(t, reader, p.Cid, start)
		return len(evs) >= 2
	})
	for _, e := range evs {
		if e.WriteTime != ts || e.Op != scyllastate.OpPin {
			t.Fatalf("event %+v does not carry the change (write time %d)", e, ts)
		}
	}
}

// A writer that stops while a change's outcome is unknown does not record
// a clean stop, and its safe point stays before the change: another peer
// completes it (redo).
func TestWriterStoppingWithUnknownChangesLeavesThemToRedo(t *testing.T) {
	ctx := testCtx(t)
	reader, st, proxy := proxiedWithReader(t, "leaves")
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	p := statetest.Pin(3)
	start := time.Now().Add(-time.Minute)
	proxy.DropResponsesWhere(cqlproxy.StatementContains("pin_events"))
	if err := st.Add(ctx, p); !errors.Is(err, scyllastate.ErrOutcomeUnknown) {
		t.Fatalf("want ErrOutcomeUnknown, got %v", err)
	}
	evs := eventsOf(t, reader, p.Cid, start)
	if len(evs) == 0 {
		t.Fatal("no ambiguous write was produced")
	}
	// The store closes while events still cannot be confirmed.
	_ = st.Close()
	ws, err := reader.Feed().Writers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ID != "leaves" {
			continue
		}
		if w.Closed {
			t.Fatal("a writer with a change of unknown outcome recorded a clean stop: nobody would complete it")
		}
		if w.SafeBefore.After(evs[0].Time()) {
			t.Fatalf("safe point %s is after the unresolved change (%s): redo would skip it", w.SafeBefore, evs[0].Time())
		}
		if hasRow(t, ctx, reader, p.Cid) {
			t.Fatal("the row was written although the event was never confirmed")
		}
		return
	}
	t.Fatal("the writer is not recorded")
}

func hasRow(t *testing.T, ctx context.Context, st *scyllastate.ScyllaState, c api.Cid) bool {
	t.Helper()
	ok, err := st.Has(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Concurrent changes are written as one group, their events in unlogged
// batches that span feed partitions (not atomic). When the responses of
// those batches are lost although the database wrote them, every change
// of the group is of unknown outcome, and every one is completed: its row
// written with the event's timestamp.
func TestAmbiguousGroupAcrossPartitionsIsCompleted(t *testing.T) {
	ctx := testCtx(t)
	reader, st, proxy := proxiedWithReader(t, "ambiguous-group")
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	const n = 24
	start := time.Now().Add(-time.Minute)
	proxy.DropResponsesWhere(cqlproxy.StatementContains("pin_events"))
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- st.Add(ctx, statetest.Pin(100+i)) }()
	}
	for range n {
		if err := <-errs; !errors.Is(err, scyllastate.ErrOutcomeUnknown) {
			t.Fatalf("Add whose event responses are lost: want ErrOutcomeUnknown, got %v", err)
		}
	}
	// The events landed (24 CIDs fall in many of the 32 partitions of a
	// minute: the batches spanned partitions).
	landed := map[string]bool{}
	for _, e := range events(t, reader, start, time.Now().Add(time.Hour)) {
		landed[e.Cid.String()] = true
	}
	for i := range n {
		if c := statetest.Pin(100 + i).Cid; !landed[c.String()] {
			t.Fatalf("the event of change %d (%s) was not written: the fault did not produce an ambiguous write", i, c)
		}
	}
	proxy.Pass()
	for i := range n {
		c := statetest.Pin(100 + i).Cid
		waitFor(t, 30*time.Second, "the row of change "+strconv.Itoa(i), func() bool { return hasRow(t, ctx, reader, c) })
		evs := eventsOf(t, reader, c, start)
		rv, err := reader.ReadVersion(ctx, c)
		if err != nil || len(evs) == 0 || rv.WriteTime != evs[0].WriteTime {
			t.Fatalf("change %d: row %+v (%v), events %d: want the row at the event's write time", i, rv, err, len(evs))
		}
	}
}
