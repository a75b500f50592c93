//go:build integration

package scyllastate_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func keyspaceReplication(t *testing.T, cfg *scyllastate.Config) string {
	t.Helper()
	s := cqltest.Session(t, cfg)
	defer s.Close()
	var repl map[string]string
	if err := s.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", cfg.Keyspace).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for k, v := range repl {
		if strings.HasSuffix(k, "class") {
			v = v[strings.LastIndex(v, ".")+1:]
		}
		parts = append(parts, fmt.Sprintf("%q:%q", k, v))
	}
	return strings.Join(parts, ",")
}

// queryLog records every query attempt the driver makes.
type queryLog struct {
	mu sync.Mutex
	q  []gocql.ObservedQuery
}

func (l *queryLog) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	l.mu.Lock()
	l.q = append(l.q, q)
	l.mu.Unlock()
}

// ObserveBatch records a batch attempt (pin writes and their feed events
// go in one logged batch) as one query with the statements joined.
func (l *queryLog) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	l.mu.Lock()
	l.q = append(l.q, gocql.ObservedQuery{
		Keyspace: b.Keyspace, Statement: strings.Join(b.Statements, "; "),
		Start: b.Start, End: b.End, Err: b.Err, Attempt: b.Attempt,
	})
	l.mu.Unlock()
}

func (l *queryLog) matching(substr string) []gocql.ObservedQuery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []gocql.ObservedQuery
	for _, q := range l.q {
		if strings.Contains(q.Statement, substr) {
			out = append(out, q)
		}
	}
	return out
}

// maxOverlap is the largest number of attempts in flight at one time.
func maxOverlap(qs []gocql.ObservedQuery) int {
	type event struct {
		at    time.Time
		delta int
	}
	events := make([]event, 0, 2*len(qs))
	for _, q := range qs {
		events = append(events, event{q.Start, 1}, event{q.End, -1})
	}
	sort.Slice(events, func(i, j int) bool {
		if events[i].at.Equal(events[j].at) {
			return events[i].delta < events[j].delta // ends before starts
		}
		return events[i].at.Before(events[j].at)
	})
	cur, best := 0, 0
	for _, e := range events {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}

func observed(t *testing.T, cfg *scyllastate.Config) (*scyllastate.ScyllaState, *queryLog) {
	log := &queryLog{}
	st := cqltest.New(t, cfg, scyllastate.WithClusterHook(func(c *gocql.ClusterConfig) {
		c.QueryObserver = log
		c.BatchObserver = log
	}))
	return st, log
}

func addPins(t *testing.T, st *scyllastate.ScyllaState, n int) {
	t.Helper()
	b := st.Batch()
	ctx := testCtx(t)
	for i := 0; i < n; i++ {
		if err := b.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConsistencyIsApplied(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cqltest.New(t, cfg) // schema at the default consistency
	three := *cfg
	three.Consistency = "THREE" // a single node cannot give three acks
	three.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 0, MinRetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}
	st := cqltest.New(t, &three)
	err := st.Add(testCtx(t), statetest.Pin(1))
	var unavailable *gocql.RequestErrUnavailable
	if !errors.As(err, &unavailable) || unavailable.Consistency != gocql.Three {
		t.Fatalf("a write at THREE on a one-node database must fail as unavailable at THREE, got %v", err)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	return -1
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestRetryPolicyAndMetrics: failed writes are retried NumRetries times,
// the retries and errors are counted, and successes are timed.
func TestRetryPolicyAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.MetricsEnabled = true
	st := cqltest.New(t, cfg, scyllastate.WithRegistry(prometheus.NewRegistry()))
	ctx := testCtx(t)
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}

	three := *cfg
	three.Consistency = "THREE"
	three.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 2, MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}
	failing, flog := observed(t, &three)
	failingReg := cqltest.New(t, &three, scyllastate.WithRegistry(reg))
	if err := failingReg.Add(ctx, statetest.Pin(2)); err == nil {
		t.Fatal("write at THREE succeeded on one node")
	}
	if got := counterValue(t, reg, "ipfscluster_scyllastate_retries_total", nil); got != 2 {
		t.Fatalf("retries_total = %v, want 2 (num_retries)", got)
	}
	if got := counterValue(t, reg, "ipfscluster_scyllastate_errors_total", map[string]string{"operation": "add"}); got != 1 {
		t.Fatalf("errors_total{operation=add} = %v, want 1", got)
	}
	if err := failingReg.Rm(ctx, statetest.Cid(3)); err == nil {
		t.Fatal("delete at THREE succeeded on one node")
	}
	if _, err := failingReg.Has(ctx, statetest.Cid(1)); err == nil {
		t.Fatal("read at THREE succeeded on one node")
	}
	if got := counterValue(t, reg, "ipfscluster_scyllastate_operation_duration_seconds", map[string]string{"operation": "has", "status": "error"}); got != 1 {
		t.Fatalf("operation_duration_seconds{has,error} count = %v, want 1", got)
	}

	// Every attempt shows in the driver: 1 + 2 retries. The first write
	// of a store registers it as a writer of the change feed (a
	// heartbeat), so that is the write that fails.
	if err := failing.Add(ctx, statetest.Pin(4)); err == nil {
		t.Fatal("write at THREE succeeded")
	}
	if n := len(flog.matching("UPDATE " + cfg.Keyspace + ".feed_members")); n != 3 {
		t.Fatalf("%d write attempts, want 3", n)
	}

	// A second store on the same registry does not panic and shares the
	// collectors; with metrics disabled nothing is recorded.
	ok := *cfg
	again := cqltest.New(t, &ok, scyllastate.WithRegistry(reg))
	if _, err := again.Get(ctx, statetest.Cid(1)); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, reg, "ipfscluster_scyllastate_operation_duration_seconds", map[string]string{"operation": "get", "status": "success"}); got != 1 {
		t.Fatalf("get success count = %v, want 1", got)
	}
	off := *cfg
	off.MetricsEnabled = false
	quiet := cqltest.New(t, &off, scyllastate.WithRegistry(reg))
	if _, err := quiet.Get(ctx, statetest.Cid(1)); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, reg, "ipfscluster_scyllastate_operation_duration_seconds", map[string]string{"operation": "get", "status": "success"}); got != 1 {
		t.Fatalf("metrics_enabled=false still recorded: get count = %v", got)
	}
	// No CID ever becomes a label.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.HasPrefix(l.GetValue(), "bafk") || strings.HasPrefix(l.GetValue(), "Qm") {
					t.Fatalf("CID label on %s", mf.GetName())
				}
			}
		}
	}
}

func TestBatchSizeMetricAndAutoFlush(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.MetricsEnabled = true
	cfg.BatchSize = 10
	st := cqltest.New(t, cfg, scyllastate.WithRegistry(reg))
	ctx := testCtx(t)
	b := st.Batch()
	for i := 0; i < 25; i++ {
		if err := b.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	if p := b.Pending(); p != 5 {
		t.Fatalf("with batch_size 10, 25 adds leave %d buffered, want 5", p)
	}
	// The automatic flushes write in the background, one at a time.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ok, _ := st.Has(ctx, statetest.Cid(19)); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the automatic flush did not write")
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, reg, "ipfscluster_scyllastate_batch_size", nil); got != 3 {
		t.Fatalf("batch_size observations = %v, want 3 (10+10+5)", got)
	}
	if n := len(statetest.ListAll(t, ctx, st)); n != 25 {
		t.Fatalf("%d pins, want 25", n)
	}
}

// Concurrent calls share groups of database requests, and the
// group_size histogram says how many each group served: its sum is the
// number of calls, its count the number of groups.
func TestGroupSizeMetricCountsCallsServedTogether(t *testing.T) {
	const calls = 128
	reg := prometheus.NewRegistry()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.MetricsEnabled = true
	st := cqltest.New(t, cfg, scyllastate.WithRegistry(reg))
	ctx := testCtx(t)
	at := time.Now().Add(-time.Minute)
	for _, step := range []struct {
		group string
		call  func(i int) error
	}{
		{"write", func(i int) error { return st.Add(ctx, statetest.Pin(i)) }},
		{"read", func(i int) error { _, err := st.Get(ctx, statetest.Cid(i)); return err }},
		{"tracker_error", func(i int) error { return st.RecordTrackerError(ctx, "peer-a", trackerError(i, at)) }},
	} {
		if err := atOnce(calls, step.call); err != nil {
			t.Fatalf("%s: %v", step.group, err)
		}
		count, sum := histogram(t, reg, "ipfscluster_scyllastate_group_size", map[string]string{"group": step.group})
		t.Logf("%s: %d calls at once served by %d groups", step.group, calls, count)
		if sum != calls {
			t.Errorf("group_size{group=%q} sums to %v calls, want %d", step.group, sum, calls)
		}
		if count < 1 || count > calls/2 {
			t.Errorf("group_size{group=%q} counts %d groups for %d concurrent calls, want 1 to %d", step.group, count, calls, calls/2)
		}
	}
}

// histogram is the sample count and sum of the histogram series name with
// labels.
func histogram(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && m.Histogram != nil && labelsMatch(m, labels) {
				return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0, 0
}

func TestPageSizeIsApplied(t *testing.T) {
	pages := func(pageSize int) int {
		cfg := cqltest.Config(t, cqltest.DefaultPrefix)
		cfg.PageSize = pageSize
		cfg.ListConcurrency = 1 // 8 token ranges
		st, log := observed(t, cfg)
		addPins(t, st, 400)
		_ = statetest.ListAll(t, testCtx(t), st)
		return len(log.matching("token(cid)"))
	}
	small, large := pages(10), pages(10000)
	if large != 8 {
		t.Fatalf("page_size 10000: %d scan queries, want one per token range (8)", large)
	}
	if small < 40 {
		t.Fatalf("page_size 10: %d scan page queries for 400 pins, want at least 40", small)
	}
}

func TestConcurrencyLimits(t *testing.T) {
	run := func(write, list int) (int, int) {
		cfg := cqltest.Config(t, cqltest.DefaultPrefix)
		cfg.WriteConcurrency = write
		cfg.ListConcurrency = list
		cfg.PageSize = 20
		st, log := observed(t, cfg)
		addPins(t, st, 300)
		_ = statetest.ListAll(t, testCtx(t), st)
		return maxOverlap(log.matching("INSERT INTO")), maxOverlap(log.matching("token(cid)"))
	}
	w1, l1 := run(1, 1)
	if w1 != 1 || l1 != 1 {
		t.Fatalf("write_concurrency 1 / list_concurrency 1: %d writes and %d scans in flight at once", w1, l1)
	}
	w8, l4 := run(8, 4)
	if w8 < 2 || w8 > 8 || l4 < 2 || l4 > 4 {
		t.Fatalf("write_concurrency 8 / list_concurrency 4: %d writes and %d scans in flight at most", w8, l4)
	}
}

type connectCounter struct{ n atomic.Int64 }

func (c *connectCounter) ObserveConnect(gocql.ObservedConnect) { c.n.Add(1) }

func TestNumConnsIsApplied(t *testing.T) {
	count := func(n int) int64 {
		cfg := cqltest.Config(t, cqltest.DefaultPrefix)
		cfg.NumConns = n
		cc := &connectCounter{}
		st := cqltest.New(t, cfg, scyllastate.WithClusterHook(func(c *gocql.ClusterConfig) { c.ConnectObserver = cc }))
		// let the pool fill
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && cc.n.Load() < int64(n) {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := st.Has(testCtx(t), statetest.Cid(1)); err != nil {
			t.Fatal(err)
		}
		return cc.n.Load()
	}
	one, four := count(1), count(4)
	if four < one+3 {
		t.Fatalf("num_conns 4 opened %d connections, num_conns 1 opened %d", four, one)
	}
}

// TestRoutingOptions runs writes and reads through each host selection
// policy against the real server. On one node the policies pick the same
// host, so this shows only that they work with our fully qualified,
// prepared statements (the token-aware policy needs their routing keys);
// which policy each option selects is TestClusterConfigMapsEveryField's.
func TestRoutingOptions(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		mod  func(*scyllastate.Config)
	}{
		{"token_aware", func(c *scyllastate.Config) { c.TokenAwareRouting = true }},
		{"dc_aware", func(c *scyllastate.Config) { c.DCAwareRouting = true; c.LocalDC = "datacenter1" }},
		{"both", func(c *scyllastate.Config) {
			c.TokenAwareRouting = true
			c.DCAwareRouting = true
			c.LocalDC = "datacenter1"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cqltest.Config(t, cqltest.DefaultPrefix)
			tc.mod(cfg)
			st := cqltest.New(t, cfg)
			if err := st.Add(ctx, statetest.Pin(1)); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.Has(ctx, statetest.Cid(1)); !ok || err != nil {
				t.Fatal(ok, err)
			}
		})
	}
}
