package scylla

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// Metric names of the change feed: ipfscluster_scylla_feed_*. They carry
// no CID labels.
const (
	metricNamespace = "ipfscluster"
	metricSubsystem = "scylla_feed"
)

// feedMetrics are the change feed's metrics. A nil *feedMetrics records
// nothing.
type feedMetrics struct {
	eventsApplied   *prometheus.CounterVec
	lag             prometheus.GaugeFunc
	caughtUpGauge   prometheus.Gauge
	catchUpDuration prometheus.Gauge
	checkpointAge   prometheus.GaugeFunc
	pollErrors      prometheus.Counter
	rolled          prometheus.Counter
	repairs         *prometheus.CounterVec
	deferred        prometheus.GaugeFunc
	overflowed      prometheus.CounterFunc
}

func newFeedMetrics(reg prometheus.Registerer, lag func() time.Duration, lastCheckpoint func() time.Time, deferred func() int, overflowed func() int64) (*feedMetrics, error) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricNamespace, Subsystem: metricSubsystem, Name: name, Help: help}
	}
	m := &feedMetrics{
		eventsApplied: prometheus.NewCounterVec(prometheus.CounterOpts(opts("events_applied_total",
			"Changes of the shared pinset told to this peer's pin tracker, by operation (pin, unpin).")), []string{"op"}),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("lag_seconds",
			"How far behind now this peer has read the change feed.")), func() float64 { return lag().Seconds() }),
		caughtUpGauge: prometheus.NewGauge(prometheus.GaugeOpts(opts("caught_up",
			"0 while this peer catches up with the changes made while it was away, 1 after."))),
		catchUpDuration: prometheus.NewGauge(prometheus.GaugeOpts(opts("catchup_duration_seconds",
			"Duration of the last catch-up with the change feed."))),
		checkpointAge: prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("checkpoint_age_seconds",
			"Age of the last feed position saved by this peer.")), func() float64 {
			t := lastCheckpoint()
			if t.IsZero() {
				return 0
			}
			return time.Since(t).Seconds()
		}),
		pollErrors: prometheus.NewCounter(prometheus.CounterOpts(opts("poll_errors_total",
			"Failed reads of the change feed."))),
		rolled: prometheus.NewCounter(prometheus.CounterOpts(opts("rolled_forward_total",
			"Pin rows completed from their change event (a writer died between the two, or a row was behind its event)."))),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts(opts("repairs_total",
			"Pins tracked (pin) or untracked (unpin) by the repair of the pinset slices because IPFS disagreed with the pinset: changes the feed missed, or IPFS changed behind the cluster's back.")), []string{"op"}),
		deferred: prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("deferred_pins",
			"Pins waiting for room in the tracker queue (pin_queue_limit), tracked newest first.")), func() float64 { return float64(deferred()) }),
		overflowed: prometheus.NewCounterFunc(prometheus.CounterOpts(opts("overflow_pins_total",
			"Pins that found the tracker queue and the deferred set full, left to a recover pass over the pinset.")), func() float64 { return float64(overflowed()) }),
	}
	for _, c := range []prometheus.Collector{m.eventsApplied, m.lag, m.caughtUpGauge, m.catchUpDuration, m.checkpointAge, m.pollErrors, m.rolled, m.repairs, m.deferred, m.overflowed} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				// A second consensus in one process (tests): keep the
				// first one's collectors.
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *feedMetrics) applied(op scyllastate.Op) {
	if m == nil {
		return
	}
	m.eventsApplied.WithLabelValues(op.String()).Inc()
}

func (m *feedMetrics) repaired(op scyllastate.Op) {
	if m == nil {
		return
	}
	m.repairs.WithLabelValues(op.String()).Inc()
}

func (m *feedMetrics) pollError() {
	if m == nil {
		return
	}
	m.pollErrors.Inc()
}

func (m *feedMetrics) rolledForward() {
	if m == nil {
		return
	}
	m.rolled.Inc()
}

func (m *feedMetrics) catchingUp() {
	if m == nil {
		return
	}
	m.caughtUpGauge.Set(0)
}

func (m *feedMetrics) caughtUp(d time.Duration) {
	if m == nil {
		return
	}
	m.caughtUpGauge.Set(1)
	m.catchUpDuration.Set(d.Seconds())
}
