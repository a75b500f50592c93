//go:build scylla && integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
)

// expectedSeries are the queries a real Prometheus must answer with a
// series of the peer once it has pinned something: the store, feed and
// upstream metrics.
var expectedSeries = []string{
	`ipfscluster_scyllastate_operation_duration_seconds_count{operation="add",status="success"}`,
	`ipfscluster_scyllastate_operation_duration_seconds_bucket{operation="get"}`,
	`ipfscluster_scyllastate_operation_duration_seconds_sum{operation="list"}`,
	`ipfscluster_scyllastate_retries_total`,
	`ipfscluster_scyllastate_database_healthy == 1`,
	`ipfscluster_scylla_feed_events_applied_total{op="pin"}`,
	`ipfscluster_scylla_feed_lag_seconds`,
	`ipfscluster_scylla_feed_caught_up == 1`,
	`ipfscluster_scylla_feed_catchup_duration_seconds`,
	`ipfscluster_scylla_feed_checkpoint_age_seconds`,
	`ipfscluster_scylla_feed_poll_errors_total`,
	`ipfscluster_scylla_feed_rolled_forward_total`,
	`ipfscluster_scylla_feed_overflow_pins_total == 0`,
	`ipfscluster_pins`,
	`go_goroutines`,
	`process_resident_memory_bytes`,
	`up{job="ipfs-cluster"} == 1`,
}

// promClient asks Prometheus, each request within 5 seconds.
var promClient = &http.Client{Timeout: 5 * time.Second}

// addCount is the store's count of successful adds of the peer.
const addCount = `ipfscluster_scyllastate_operation_duration_seconds_count{instance="peer0",operation="add",status="success"}`

// prometheus is a real Prometheus server of a test.
type prometheus struct {
	port int
	proc *proc.Proc
}

// promConfig scrapes the peer's metrics on target every second and
// evaluates the alert rules every second, the peer labelled peer0.
const promConfig = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: ipfs-cluster
    static_configs:
      - targets: ["%s"]
        labels: {peer: peer0}
    relabel_configs:
      - source_labels: [__address__]
        target_label: address
      - source_labels: [peer]
        regex: (.+)
        target_label: instance
      - regex: peer
        action: labeldrop
`

// startPrometheus runs `prometheus` (Debian package prometheus) on a free
// loopback port, scraping target with the rules of alerts, until the test
// ends.
func startPrometheus(t *testing.T, alerts, target string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (Debian: apt-get install prometheus): %s", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, promConfig, alerts, target), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	g := &proc.Group{}
	t.Cleanup(func() { _ = g.StopAll(20 * time.Second) })
	p, err := g.Start("prometheus", filepath.Join(dir, "prometheus.log"), nil, bin,
		"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	if err != nil {
		t.Fatal(err)
	}
	return &prometheus{port: port, proc: p}
}

// api GETs /api/v1/PATH with the query q and decodes data; Prometheus must
// answer status "success".
func (p *prometheus) api(path string, q url.Values, data any) error {
	u := fmt.Sprintf("http://127.0.0.1:%d/api/v1/%s?%s", p.port, path, q.Encode())
	resp, err := promClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var answer struct {
		Status string
		Error  string
		Data   json.RawMessage
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Errorf("%s: %w: %q", path, err, body)
	}
	if answer.Status != "success" {
		return fmt.Errorf("%s %v: %s: %s", path, q, answer.Status, answer.Error)
	}
	return json.Unmarshal(answer.Data, data)
}

// sample is one series of an instant query.
type sample struct {
	Metric map[string]string
	Value  [2]any
}

// query runs an instant query.
func (p *prometheus) query(q string) ([]sample, error) {
	var data struct{ Result []sample }
	err := p.api("query", url.Values{"query": {q}}, &data)
	return data.Result, err
}

// hasSeries tells whether the query returns a series of the peer.
func (p *prometheus) hasSeries(q string) bool {
	res, err := p.query(q)
	if err != nil {
		return false
	}
	for _, s := range res {
		if s.Metric["instance"] == "peer0" {
			return true
		}
	}
	return false
}

// value is the number of a sample.
func (s sample) value() float64 {
	var f float64
	_, _ = fmt.Sscan(fmt.Sprint(s.Value[1]), &f)
	return f
}

// dashboardQueries returns every PromQL query of the Grafana dashboard,
// with its variables set as Grafana would for the peer.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	var d map[string]any
	if err := jsonconf.Read(path, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(d["panels"])
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-z_]+\)$`)
	for _, v := range jsonconf.Get(d, "templating.list").([]any) {
		if q, ok := jsonconf.Get(v.(map[string]any), "query.query").(string); ok {
			if m := labelValues.FindStringSubmatch(q); m != nil {
				exprs = append(exprs, m[1])
			}
		}
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$job", "ipfs-cluster", "$instance", "peer0")
	for i, e := range exprs {
		exprs[i] = vars.Replace(e)
	}
	return exprs
}

// A real Prometheus scrapes a real peer (--stats, store metrics on): the
// store, feed and upstream metrics are queryable, the adds of pins are
// counted, the alert rules load and stay quiet, and every query of the
// Grafana dashboard runs. (promtool checks the rules in `make
// test-monitoring`.)
func TestPrometheusScrapesAPeer(t *testing.T) {
	root := kubotest.RepoRoot(t)
	alerts := filepath.Join(root, "monitoring", "prometheus", "alerts.yml")
	k := kubotest.Start(t)
	metricsPort, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	dir := initPeer(t, k, func(c map[string]any) {
		onKeyspace(db)(c)
		jsonconf.Set(c, "observations.metrics.prometheus_endpoint", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", metricsPort))
		jsonconf.Set(c, "state.scyllastate.metrics_enabled", true)
	}, "--datastore", "scylla")
	d := startDaemon(t, dir, "--stats")
	ctl := d.client(t)

	// The peer serves its metrics.
	target := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	waitUntil(t, time.Minute, "the store's histogram served on /metrics", func() bool {
		resp, err := http.Get("http://" + target + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "\nipfscluster_scyllastate_operation_duration_seconds_bucket{")
	})

	prom := startPrometheus(t, alerts, target)
	waitUntil(t, time.Minute, "prometheus scrapes the peer", func() bool {
		var data struct {
			ActiveTargets []struct {
				Labels map[string]string
				Health string
			}
		}
		if prom.api("targets", nil, &data) != nil {
			return false
		}
		return len(data.ActiveTargets) == 1 && data.ActiveTargets[0].Labels["instance"] == "peer0" && data.ActiveTargets[0].Health == "up"
	})

	// Pins through the REST API write to the store while Prometheus watches.
	pin := func(i int) {
		c := k.Add(t, fmt.Appendf(nil, "scraped by prometheus %d %d", i, time.Now().UnixNano()))
		if _, err := ctl.Pin(context.Background(), c, api.PinOptions{ReplicationFactorMin: -1, ReplicationFactorMax: -1}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "the pin pinned", func() bool {
			gpi, err := ctl.Status(context.Background(), c, false)
			return err == nil && len(gpi.PeerMap) == 1 && gpi.Match(api.TrackerStatusPinned)
		})
	}
	pin(1)
	waitUntil(t, 30*time.Second, "prometheus has the add count", func() bool { return prom.hasSeries(addCount) })
	pin(2)
	if got := pinLines(t, ctl); len(got) != 2 {
		t.Fatalf("pin ls lists %v, want 2 pins", got)
	}

	// Every expected series is there.
	waitUntil(t, 30*time.Second, "every expected series", func() bool {
		for _, q := range expectedSeries {
			if !prom.hasSeries(q) {
				t.Logf("no series yet for %s", q)
				return false
			}
		}
		return true
	})
	// The second add is an increase of the counter Prometheus saw.
	waitUntil(t, 30*time.Second, "prometheus saw the add counter grow", func() bool {
		res, err := prom.query("increase(" + addCount + "[5m])")
		return err == nil && len(res) > 0 && res[0].value() >= 0.5
	})

	// The alert rules load and evaluate against the peer.
	raw, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	nAlerts := len(regexp.MustCompile(`(?m)^ *- alert:`).FindAll(raw, -1))
	waitUntil(t, 30*time.Second, fmt.Sprintf("the %d alert rules loaded and evaluated", nAlerts), func() bool {
		var data struct {
			Groups []struct {
				Rules []struct{ Name, Health, LastError, LastEvaluation string }
			}
		}
		if prom.api("rules", nil, &data) != nil {
			return false
		}
		n := 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" || strings.HasPrefix(r.LastEvaluation, "0001-") {
					t.Logf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
					return false
				}
				n++
			}
		}
		return n == nAlerts
	})

	// Every query of the Grafana dashboard runs; its p99 latency panel shows the adds.
	queries := dashboardQueries(t, filepath.Join(root, "monitoring", "grafana", "ipfs-cluster-scylla.json"))
	if len(queries) < 20 {
		t.Fatalf("the dashboard has %d queries, want at least 20", len(queries))
	}
	p99 := ""
	for _, q := range queries {
		if _, err := prom.query(q); err != nil {
			t.Errorf("prometheus refused a dashboard query: %s", err)
		}
		if p99 == "" && strings.Contains(q, "histogram_quantile(0.99, sum by (operation, le)") {
			p99 = strings.ReplaceAll(q, "[1m]", "[5m]")
		}
	}
	res, err := prom.query(p99)
	if err != nil {
		t.Fatal(err)
	}
	sawAdd := false
	for _, s := range res {
		sawAdd = sawAdd || (s.Metric["operation"] == "add" && s.value() > 0)
	}
	if !sawAdd {
		t.Errorf("the dashboard's p99 latency (%s) shows no add: %v", p99, res)
	}

	// A healthy peer raises no alert.
	var alertsNow struct{ Alerts []map[string]any }
	if err := prom.api("alerts", nil, &alertsNow); err != nil {
		t.Fatal(err)
	}
	if len(alertsNow.Alerts) != 0 {
		t.Errorf("alerts on a healthy peer: %v", alertsNow.Alerts)
	}
	if err := prom.proc.Stop(20 * time.Second); err != nil {
		t.Error(err)
	}
	d.stop(t)
}
