package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// feedReadsMetric counts the change feed's queries of a peer of ours:
// scyllastate's operation "events" is every read of the feed (the
// activity index of a poll and the partitions it names, one query each).
// It exists when state.scyllastate.metrics_enabled is set.
const (
	feedReadsMetric = "ipfscluster_scyllastate_operation_duration_seconds_count"
	feedReadsLabel  = `operation="events"`
)

// sumSamples sums the samples of the Prometheus text exposition in r
// whose metric name is name and whose labels include label (any label
// set if label is empty).
func sumSamples(r io.Reader, name, label string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var sum float64
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue // another metric with this prefix
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("metric line %q: no closing brace", line)
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		if label != "" && !strings.Contains(labels, label) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("metric line %q: no value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// scrapeSum reads GET /metrics on port and sums the samples of name with
// label (see sumSamples).
func scrapeSum(ctx context.Context, port int, name, label string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping the metrics on port %d: %w", port, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scraping the metrics on port %d: %s", port, resp.Status)
	}
	v, err := sumSamples(resp.Body, name, label)
	if err != nil {
		return 0, fmt.Errorf("metrics on port %d: %w", port, err)
	}
	return v, nil
}
