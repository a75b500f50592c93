package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scyllaNode serves a ScyllaDB node's metrics (two shards) whose CPU,
// reads, writes and requests grow by step on every scrape.
func scyllaNode(t *testing.T, step int64, withCPU bool) *httptest.Server {
	t.Helper()
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1) * step
		var b strings.Builder
		b.WriteString("# HELP scylla_reactor_cpu_used_time_ms Total reactor thread CPU time\n# TYPE scylla_reactor_cpu_used_time_ms counter\n")
		for shard := range 2 {
			if withCPU {
				fmt.Fprintf(&b, "scylla_reactor_cpu_used_time_ms{shard=\"%d\"} %d\n", shard, 1000+n)
			}
			fmt.Fprintf(&b, "scylla_reactor_cpu_busy_ms{shard=\"%d\"} 999999\n", shard)
			fmt.Fprintf(&b, "scylla_database_total_reads{class=\"user\",shard=\"%d\"} %d\n", shard, 100+n)
			fmt.Fprintf(&b, "scylla_database_total_reads{class=\"system\",shard=\"%d\"} 77777\n", shard)
			fmt.Fprintf(&b, "scylla_database_total_reads_failed{class=\"user\",shard=\"%d\"} 5555\n", shard)
			fmt.Fprintf(&b, "scylla_database_total_writes{shard=\"%d\"} %d\n", shard, 300+2*n)
			for _, kind := range []string{"QUERY", "EXECUTE", "BATCH"} {
				fmt.Fprintf(&b, "scylla_transport_cql_requests_count{kind=\"%s\",scheduling_group_name=\"sl:default\",shard=\"%d\"} %d\n", kind, shard, 10+n)
			}
			fmt.Fprintf(&b, "scylla_transport_cql_requests_count{kind=\"OPTIONS\",scheduling_group_name=\"sl:default\",shard=\"%d\"} 4444\n", shard)
			fmt.Fprintf(&b, "scylla_compaction_manager_compactions{shard=\"%d\"} 0\n", shard)
			fmt.Fprintf(&b, "scylla_compaction_manager_pending_compactions{shard=\"%d\"} %d\n", shard, shard)
		}
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestNodeMetricsSumTheNodesCostOverShardsAndNodes(t *testing.T) {
	ctx := context.Background()
	a, b := scyllaNode(t, 1, true), scyllaNode(t, 1, true)
	m, err := newNodeMetrics(ctx, []string{a.URL, b.URL})
	if err != nil {
		t.Fatal(err)
	}
	// The check in newNodeMetrics was scrape 1 of each node; this is scrape 2.
	s, err := m.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 * 1002 * time.Millisecond; s.CPU != want {
		t.Errorf("CPU = %s, want %s (cpu_used_time_ms of 2 shards on 2 nodes; busy time is not CPU)", s.CPU, want)
	}
	if want := (dbCounts{Reads: 4 * 102, Writes: 4 * 304, Requests: 4 * 3 * 12}); s.Counts != want {
		t.Errorf("counts = %+v, want %+v (user reads only; requests are QUERY, EXECUTE and BATCH)", s.Counts, want)
	}
	if s.Compactions != 2 {
		t.Errorf("compactions = %v, want 2 (one pending on shard 1 of each node)", s.Compactions)
	}
}

func TestNodeMetricsWithoutTheCPUMetricAreRefusedByName(t *testing.T) {
	old := scyllaNode(t, 1, false)
	_, err := newNodeMetrics(context.Background(), []string{old.URL})
	if err == nil || !strings.Contains(err.Error(), scyllaCPUMetric) || !strings.Contains(err.Error(), old.URL) {
		t.Fatalf("err = %v, want one naming %s and the URL", err, scyllaCPUMetric)
	}
	if _, err := newNodeMetrics(context.Background(), nil); err == nil {
		t.Error("an empty list was accepted")
	}
}

func TestAPhaseOnARemoteDatabaseCountsItsCPUAndNoRSS(t *testing.T) {
	ctx := context.Background()
	node := scyllaNode(t, 250, true) // +250 ms of CPU per shard per scrape
	m, err := newNodeMetrics(ctx, []string{node.URL})
	if err != nil {
		t.Fatal(err)
	}
	db := &database{nodes: &m}
	meter := startMeter(nil, db, 10*time.Millisecond)
	c := meter.stop()
	if !c.HasDB || c.DBCPU != 500*time.Millisecond {
		t.Errorf("database CPU = %s (has db %v), want 500ms: one scrape's growth over 2 shards", c.DBCPU, c.HasDB)
	}
	r := &Run{}
	r.recordCost("ours", 10000, "add", c)
	if _, ok := r.get("ours", 10000, "add.rss.db"); ok {
		t.Error("a database RSS was recorded for a database on other machines")
	}
	if v, ok := r.get("ours", 10000, "add.cpu.db"); !ok || v.Value != 0.5 {
		t.Errorf("add.cpu.db = %v, %v; want 0.5 s", v, ok)
	}
}

func TestDBMetricsFlagTakesURLsOnly(t *testing.T) {
	c, err := parseFlags([]string{"-db-metrics", "http://10.0.0.5:9180/metrics, http://10.0.0.6:9180/metrics"})
	if err != nil || len(c.dbMetrics) != 2 || c.dbMetrics[1] != "http://10.0.0.6:9180/metrics" {
		t.Fatalf("parsed %q, %v", c.dbMetrics, err)
	}
	if _, err := parseFlags([]string{"-db-metrics", "10.0.0.5:9180"}); err == nil || !strings.Contains(err.Error(), "10.0.0.5:9180") {
		t.Errorf("a host without a scheme: err = %v, want one naming it", err)
	}
}
