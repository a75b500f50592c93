package scyllahealth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestMetric(t *testing.T) {
	cfg := &Config{}
	_ = cfg.Default()
	cfg.MetricTTL = 4 * time.Second
	health := Health{}
	inf, err := New(cfg, func() Health { return health })
	if err != nil {
		t.Fatal(err)
	}
	check := func(wantValue string, wantWeight int64) {
		t.Helper()
		ms := inf.GetMetrics(context.Background())
		if len(ms) != 1 {
			t.Fatalf("%d metrics, want 1", len(ms))
		}
		m := ms[0]
		if m.Name != "scylla" || m.Value != wantValue || !m.Valid || m.Discard() || m.Weight != wantWeight || m.Partitionable {
			t.Fatalf("metric %+v, want scylla=%q valid, weight %d", m, wantValue, wantWeight)
		}
		if ttl := m.GetTTL(); ttl <= 3*time.Second || ttl > 4*time.Second {
			t.Errorf("ttl %s, want 4s", ttl)
		}
	}
	check("ok", 1)
	health = Health{Starting: true}
	check("starting", 0)
	health = Health{Err: errors.New("gocql: no hosts available in the pool\n(retrying)")}
	check("failing: gocql: no hosts available in the pool (retrying)", 0)
	health = Health{Err: errors.New(strings.Repeat("é", 500))}
	v := Value(health)
	if n := utf8.RuneCountInString(strings.TrimPrefix(v, FailingPrefix)); n != maxReason || !utf8.ValidString(v) {
		t.Errorf("a long reason is cut to %d characters (valid UTF-8: %v), want %d", n, utf8.ValidString(v), maxReason)
	}
}

func TestConfig(t *testing.T) {
	cfg := &Config{}
	if err := cfg.LoadJSON([]byte(`{}`)); err != nil || cfg.MetricTTL != DefaultMetricTTL {
		t.Fatalf("empty section: %v, ttl %s", err, cfg.MetricTTL)
	}
	if err := cfg.LoadJSON([]byte(`{"metric_ttl": "10s"}`)); err != nil || cfg.MetricTTL != 10*time.Second {
		t.Fatalf("10s: %v, ttl %s", err, cfg.MetricTTL)
	}
	err := cfg.LoadJSON([]byte(`{"metric_ttl": "0s"}`))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "informer.scyllahealth.metric_ttl") {
		t.Fatalf("0s: %v", err)
	}
	t.Setenv("CLUSTER_SCYLLAHEALTH_METRICTTL", "7s")
	_ = cfg.Default()
	if err := cfg.ApplyEnvVars(); err != nil || cfg.MetricTTL != 7*time.Second {
		t.Fatalf("environment: %v, ttl %s", err, cfg.MetricTTL)
	}
	raw, err := cfg.ToJSON()
	if err != nil || !strings.Contains(string(raw), `"metric_ttl": "7s"`) {
		t.Fatalf("ToJSON: %s %v", raw, err)
	}
}
