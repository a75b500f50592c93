package scyllastate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	logging "github.com/ipfs/go-log/v2"
	"github.com/prometheus/client_golang/prometheus"
)

var logger = logging.Logger("scyllastate")

// Option modifies how New builds a store.
type Option func(*options)

type options struct {
	registry    prometheus.Registerer
	clusterHook func(*gocql.ClusterConfig)
}

// WithRegistry registers the metrics (when Config.MetricsEnabled) on reg
// instead of upstream's observations.PromRegistry.
func WithRegistry(reg prometheus.Registerer) Option {
	return func(o *options) { o.registry = reg }
}

// ScyllaState is the shared pinset stored in a CQL database. It is safe
// for concurrent use. Close it when done.
type ScyllaState struct {
	cfg     *Config
	session *gocql.Session
	metrics *metrics
	stmts   statements

	closeOnce sync.Once
}

// New connects to the database described by cfg, retrying with
// exponential backoff (Config.RetryPolicy) while ctx allows, then creates
// or checks the schema (Config.SchemaMode). cfg must be valid; call
// cfg.Default() first to fill unset fields.
func New(ctx context.Context, cfg *Config, opts ...Option) (*ScyllaState, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil config", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{registry: observations.PromRegistry}
	for _, opt := range opts {
		opt(&o)
	}

	var m *metrics
	if cfg.MetricsEnabled {
		var err error
		if m, err = newMetrics(o.registry); err != nil {
			return nil, fmt.Errorf("registering scyllastate metrics: %w", err)
		}
	}
	cluster, err := cfg.clusterConfig(m)
	if err != nil {
		return nil, err
	}
	if o.clusterHook != nil {
		o.clusterHook(cluster)
	}

	session, err := connect(ctx, cfg, cluster)
	if err != nil {
		return nil, err
	}
	s := &ScyllaState{cfg: cfg, session: session, metrics: m, stmts: newStatements(cfg.Keyspace)}
	if err := s.setupSchema(ctx); err != nil {
		session.Close()
		return nil, err
	}
	logger.Infof("connected to %s", cfg.endpoint())
	return s, nil
}

// connect creates the driver session, retrying with backoff.
func connect(ctx context.Context, cfg *Config, cluster *gocql.ClusterConfig) (*gocql.Session, error) {
	attempts := cfg.RetryPolicy.NumRetries + 1
	delay := cfg.RetryPolicy.MinRetryDelay
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		session, err := createSession(ctx, cluster)
		if err == nil {
			return session, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		if attempt == attempts {
			break
		}
		logger.Warnf("cannot connect to %s (attempt %d/%d): %s; retrying in %s",
			cfg.endpoint(), attempt, attempts, err, delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			lastErr = fmt.Errorf("%w (last error: %w)", ctx.Err(), lastErr)
			attempt = attempts
		case <-t.C:
		}
		delay = min(delay*2, cfg.RetryPolicy.MaxRetryDelay)
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrConnect, cfg.endpoint(), lastErr)
}

// createSession runs the driver's blocking CreateSession so that ctx can
// abandon it. An abandoned session is closed by the goroutine that made
// it, which ends within the connect timeout.
func createSession(ctx context.Context, cluster *gocql.ClusterConfig) (*gocql.Session, error) {
	type result struct {
		s   *gocql.Session
		err error
	}
	ch := make(chan result) // unbuffered: a send succeeds only while New waits
	go func() {
		s, err := cluster.CreateSession()
		select {
		case ch <- result{s, err}:
		case <-ctx.Done():
			if s != nil {
				s.Close()
			}
		}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the database session. It never touches the stored pins.
func (s *ScyllaState) Close() error {
	s.closeOnce.Do(func() { s.session.Close() })
	return nil
}

// Config returns the configuration the store was built with.
func (s *ScyllaState) Config() *Config {
	return s.cfg
}
