package scyllastate

import (
	"errors"
	"time"

	"github.com/gocql/gocql"
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

// retryPolicy is the driver's exponential backoff with two changes: it
// counts the retries it grants, and it retries replica-level failures
// (unavailable, read or write timeout) on the same coordinator, since any
// other coordinator would ask the same replicas; other failures move to the
// next host. So num_retries holds on a one-node cluster too.
type retryPolicy struct {
	*gocql.ExponentialBackoffRetryPolicy
	m *metrics
}

// Attempt decides whether to retry and counts the retry.
func (p *retryPolicy) Attempt(q gocql.RetryableQuery) bool {
	ok := p.ExponentialBackoffRetryPolicy.Attempt(q)
	if ok && p.m != nil {
		p.m.retries.Inc()
	}
	return ok
}

// AttemptLWT is Attempt for lightweight transactions.
func (p *retryPolicy) AttemptLWT(q gocql.RetryableQuery) bool {
	return p.Attempt(q)
}

// GetRetryType chooses where to retry.
func (p *retryPolicy) GetRetryType(err error) gocql.RetryType {
	rt := p.ExponentialBackoffRetryPolicy.GetRetryType(err)
	if rt != gocql.RetryNextHost {
		return rt
	}
	var (
		unavailable  *gocql.RequestErrUnavailable
		readTimeout  *gocql.RequestErrReadTimeout
		writeTimeout *gocql.RequestErrWriteTimeout
	)
	if errors.As(err, &unavailable) || errors.As(err, &readTimeout) || errors.As(err, &writeTimeout) {
		return gocql.Retry
	}
	return rt
}

// GetRetryTypeLWT is GetRetryType for lightweight transactions.
func (p *retryPolicy) GetRetryTypeLWT(err error) gocql.RetryType {
	return p.GetRetryType(err)
}
