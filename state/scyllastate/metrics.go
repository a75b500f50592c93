package scyllastate

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. They carry no CID labels: cardinality stays bounded.
const (
	metricNamespace = "ipfscluster"
	metricSubsystem = "scyllastate"
)

// metrics holds the collectors of one registry. Several stores on the same
// registry share them.
type metrics struct {
	opDuration *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	retries    prometheus.Counter
	batchSize  prometheus.Histogram
	groupSize  *prometheus.HistogramVec
	healthy    prometheus.Gauge
}

// newMetrics registers the collectors on reg, reusing the ones already
// registered there, so that a second New on the same registry never panics.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace,
			Subsystem: metricSubsystem,
			Name:      "operation_duration_seconds",
			Help:      "Latency of state operations by operation and status (success or error).",
			Buckets:   prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"operation", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace,
			Subsystem: metricSubsystem,
			Name:      "errors_total",
			Help:      "Failed state operations by operation.",
		}, []string{"operation"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace,
			Subsystem: metricSubsystem,
			Name:      "retries_total",
			Help:      "Query retries made by the retry policy.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricNamespace,
			Subsystem: metricSubsystem,
			Name:      "batch_size",
			Help:      "Number of operations written per batch commit.",
			Buckets:   prometheus.ExponentialBuckets(1, 4, 10),
		}),
		groupSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace,
			Subsystem: metricSubsystem,
			Name:      "group_size",
			Help:      "Calls served together by one group of database requests, by group: write (pin and unpin changes), read (rows read for upstream's pin and unpin), tracker_error (stored errors written).",
			Buckets:   prometheus.ExponentialBuckets(1, 2, 8),
		}, []string{"group"}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricNamespace,
			Subsystem: metricSubsystem,
			Name:      "database_healthy",
			Help:      "1 while database calls succeed, 0 after several consecutive failures.",
		}),
	}
	var err error
	m.opDuration, err = register(reg, m.opDuration)
	if err != nil {
		return nil, err
	}
	if m.errors, err = register(reg, m.errors); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.batchSize, err = register(reg, m.batchSize); err != nil {
		return nil, err
	}
	if m.groupSize, err = register(reg, m.groupSize); err != nil {
		return nil, err
	}
	if m.healthy, err = register(reg, m.healthy); err != nil {
		return nil, err
	}
	m.healthy.Set(1)
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// observe records one operation. A nil receiver (metrics disabled) does
// nothing.
func (m *metrics) observe(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	status := "success"
	if err != nil {
		status = "error"
		m.errors.WithLabelValues(op).Inc()
	}
	m.opDuration.WithLabelValues(op, status).Observe(time.Since(start).Seconds())
}

func (m *metrics) observeBatch(n int) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(n))
}

// groupObserver records the sizes of the groups of one grouper (nil:
// metrics disabled, nothing to record).
func (m *metrics) groupObserver(group string) func(n int) {
	if m == nil {
		return nil
	}
	h := m.groupSize.WithLabelValues(group)
	return func(n int) { h.Observe(float64(n)) }
}
