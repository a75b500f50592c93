package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The ScyllaDB metrics the harness reads with -db-metrics, summed over
// every shard of every node listed (see the ScyllaDB manual's metrics
// reference). Only the backend under test uses the database while it is
// measured, so that counts of the whole node are the backend's.
const (
	// scyllaCPUMetric is each shard's reactor thread CPU time
	// (CLOCK_THREAD_CPUTIME), in milliseconds: ScyllaDB 2025.2 and later.
	scyllaCPUMetric = "scylla_reactor_cpu_used_time_ms"
	// scyllaReadsMetric counts the successful reads of each class of
	// reader; the user class is the clients' reads.
	scyllaReadsMetric = "scylla_database_total_reads"
	scyllaReadsLabel  = `class="user"`
	// scyllaWritesMetric counts the successful writes of each shard.
	scyllaWritesMetric = "scylla_database_total_writes"
	// scyllaRequestsMetric counts the CQL messages by opcode (kind); the
	// requests are the QUERY, EXECUTE and BATCH messages (a batch is one).
	scyllaRequestsMetric = "scylla_transport_cql_requests_count"
	// scyllaCompactionsMetric and scyllaPendingCompactionsMetric are the
	// running and queued compactions.
	scyllaCompactionsMetric        = "scylla_compaction_manager_compactions"
	scyllaPendingCompactionsMetric = "scylla_compaction_manager_pending_compactions"
)

// scyllaRequestKinds are the opcodes of the CQL messages that are requests.
var scyllaRequestKinds = []string{`kind="QUERY"`, `kind="EXECUTE"`, `kind="BATCH"`}

// nodeMetrics reads a database's cost from the Prometheus endpoints of its
// nodes (ScyllaDB serves them on port 9180, /metrics) instead of from a
// local process and Cassandra's virtual tables: for a database on other
// machines, which is how ScyllaDB runs in production.
type nodeMetrics struct {
	urls []string
}

// scyllaSample is one reading of every node's metrics.
type scyllaSample struct {
	CPU         time.Duration
	Counts      dbCounts
	Compactions float64 // running and pending, summed
}

// sample scrapes every node once and sums what the harness reads.
func (m nodeMetrics) sample(ctx context.Context) (scyllaSample, error) {
	var s scyllaSample
	for _, u := range m.urls {
		body, err := m.scrape(ctx, u)
		if err != nil {
			return s, err
		}
		sum := func(name, label string) (float64, error) {
			v, err := sumSamples(bytes.NewReader(body), name, label)
			if err != nil {
				return 0, fmt.Errorf("metrics of %s: %w", u, err)
			}
			return v, nil
		}
		if !hasMetric(body, scyllaCPUMetric) {
			return s, fmt.Errorf("metrics of %s have no %s: -db-metrics needs ScyllaDB 2025.2 or later, "+
				"and the URL of each node's Prometheus endpoint (http://NODE:9180/metrics)", u, scyllaCPUMetric)
		}
		var vals [6]float64
		for i, q := range []struct{ name, label string }{
			{scyllaCPUMetric, ""}, {scyllaReadsMetric, scyllaReadsLabel}, {scyllaWritesMetric, ""},
			{scyllaCompactionsMetric, ""}, {scyllaPendingCompactionsMetric, ""},
		} {
			if vals[i], err = sum(q.name, q.label); err != nil {
				return s, err
			}
		}
		for _, kind := range scyllaRequestKinds {
			v, err := sum(scyllaRequestsMetric, kind)
			if err != nil {
				return s, err
			}
			vals[5] += v
		}
		s.CPU += time.Duration(vals[0] * float64(time.Millisecond))
		s.Counts.Reads += int64(vals[1])
		s.Counts.Writes += int64(vals[2])
		s.Compactions += vals[3] + vals[4]
		s.Counts.Requests += int64(vals[5])
	}
	return s, nil
}

// hasMetric tells whether a Prometheus text exposition has a sample of
// name (with or without labels).
func hasMetric(body []byte, name string) bool {
	for _, sep := range []string{"{", " "} {
		if bytes.HasPrefix(body, []byte(name+sep)) || bytes.Contains(body, []byte("\n"+name+sep)) {
			return true
		}
	}
	return false
}

// scrape reads one node's metrics.
func (nodeMetrics) scrape(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("-db-metrics URL %q: %w", url, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the database metrics at %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping the database metrics at %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the database metrics at %s: %w", url, err)
	}
	return body, nil
}

// errNoNodes is returned for an empty -db-metrics list.
var errNoNodes = errors.New("-db-metrics lists no URL")

// newNodeMetrics checks that every URL answers with the metrics the
// harness reads.
func newNodeMetrics(ctx context.Context, urls []string) (nodeMetrics, error) {
	if len(urls) == 0 {
		return nodeMetrics{}, errNoNodes
	}
	m := nodeMetrics{urls: urls}
	_, err := m.sample(ctx)
	return m, err
}
