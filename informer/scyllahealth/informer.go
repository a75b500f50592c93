// Package scyllahealth is an informer that publishes whether a scylla
// peer's database calls succeed, as the metric "scylla": `ipfs-cluster-ctl
// health metrics scylla` lists its value for every peer, "ok",
// "starting" or "failing: <reason>".
//
// The metric only informs. Upstream's allocator reads the metrics named
// in allocator.balanced.allocate_by and nothing else, so it never
// changes allocations unless named there (its weight is then 1 for "ok"
// and 0 otherwise); the monitor raises an alert for it only when a peer
// stops publishing it, and upstream repins only on "ping" alerts.
package scyllahealth

import (
	"context"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"
)

// MetricName is the name of the published metric.
const MetricName = "scylla"

// Values of the metric other than "failing: <reason>".
const (
	ValueOK       = "ok"
	ValueStarting = "starting"
	FailingPrefix = "failing: "
)

// maxReason bounds the reason in the metric value, in characters.
const maxReason = 200

// Health is what a Probe tells.
type Health struct {
	// Starting is true until the peer is ready.
	Starting bool
	// Err is the last error of database calls that keep failing, nil
	// while they succeed.
	Err error
}

// Probe tells the database health of this peer, without waiting.
type Probe func() Health

// Informer implements upstream's ipfscluster.Informer.
type Informer struct {
	cfg   *Config
	probe Probe

	mu     sync.Mutex
	client *rpc.Client
}

// New returns an informer publishing what probe tells.
func New(cfg *Config, probe Probe) (*Informer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Informer{cfg: cfg, probe: probe}, nil
}

// Name returns MetricName.
func (inf *Informer) Name() string { return MetricName }

// SetClient keeps the RPC client, as upstream's informers do; the
// informer makes no call.
func (inf *Informer) SetClient(c *rpc.Client) {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	inf.client = c
}

// Shutdown drops the RPC client.
func (inf *Informer) Shutdown(context.Context) error {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	inf.client = nil
	return nil
}

// GetMetrics returns the "scylla" metric.
func (inf *Informer) GetMetrics(context.Context) []api.Metric {
	value := Value(inf.probe())
	m := api.Metric{Name: MetricName, Value: value, Valid: true}
	if value == ValueOK {
		m.Weight = 1
	}
	m.SetTTL(inf.cfg.MetricTTL)
	return []api.Metric{m}
}

// Value renders a health as the metric value: "ok", "starting" or
// "failing: <reason>" (on one line, at most 200 characters of reason).
func Value(h Health) string {
	switch {
	case h.Err != nil && !h.Starting:
		reason := strings.Join(strings.Fields(h.Err.Error()), " ")
		if utf8.RuneCountInString(reason) > maxReason {
			reason = string([]rune(reason)[:maxReason-1]) + "…"
		}
		return FailingPrefix + reason
	case h.Starting:
		return ValueStarting
	}
	return ValueOK
}
