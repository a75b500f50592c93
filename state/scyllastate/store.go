package scyllastate

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/prometheus/client_golang/prometheus"
)

// Option modifies how New builds a store.
type Option func(*options)

type options struct {
	registry    prometheus.Registerer
	clusterHook func(*gocql.ClusterConfig)
	writerID    string
	untilDone   bool
	retryHint   string
}

// WithRegistry registers the metrics (when Config.MetricsEnabled) on reg
// instead of upstream's observations.PromRegistry.
func WithRegistry(reg prometheus.Registerer) Option {
	return func(o *options) { o.registry = reg }
}

// WithWriterID names this store as a writer of the change feed (a peer ID
// for a cluster peer). Its heartbeat row lets other peers finish its
// writes if it dies between the two halves of one (see the package
// documentation). The default names the process: host and PID.
func WithWriterID(id string) Option {
	return func(o *options) { o.writerID = id }
}

// WithRetryUntilDone makes New retry an unreachable database until its
// context ends, instead of retry_policy.num_retries times. Credentials or
// TLS that the database refuses still end New at once.
func WithRetryUntilDone() Option {
	return func(o *options) { o.untilDone = true }
}

// WithRetryHint adds a hint to the log line of each failed connection
// attempt, e.g. how long the caller keeps retrying.
func WithRetryHint(hint string) Option {
	return func(o *options) { o.retryHint = hint }
}

// ScyllaState is the shared pinset stored in a CQL database. It is safe
// for concurrent use. Close it when done.
type ScyllaState struct {
	cfg       *Config
	session   *gocql.Session
	metrics   *metrics
	stmts     statements
	cons      gocql.Consistency // pins
	meta      gocql.Consistency // the keyspace's own records (metaConsistency)
	eventCons gocql.Consistency // change-feed events
	health    *health
	layout    *layoutCache
	activity  *activity
	server    ServerInfo

	writer *writer
	getter *getter
	feed   *Feed

	closeOnce sync.Once
}

// New connects to the database described by cfg (retrying while it is
// unreachable, see WithRetryUntilDone), then creates, upgrades or checks
// the schema (Config.SchemaMode). cfg must be valid; call cfg.Default()
// first to fill unset fields.
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
	if o.writerID == "" {
		host, _ := os.Hostname()
		o.writerID = fmt.Sprintf("process/%s/%d", host, os.Getpid())
	}

	var m *metrics
	if cfg.MetricsEnabled {
		var err error
		if m, err = newMetrics(o.registry); err != nil {
			return nil, fmt.Errorf("registering scyllastate metrics: %w", err)
		}
	}
	var cluster *gocql.ClusterConfig
	newCluster := func() (*gocql.ClusterConfig, error) {
		c, err := cfg.clusterConfig(m)
		if err != nil {
			return nil, err
		}
		if o.clusterHook != nil {
			o.clusterHook(c)
		}
		seams.ObserveCQL(c) // tests only, after the hook: see seams.SetCQLObserver
		cluster = c
		return c, nil
	}
	session, err := connect(ctx, cfg, newCluster, o.untilDone, o.retryHint)
	if err != nil {
		return nil, err
	}
	s := &ScyllaState{
		cfg:       cfg,
		session:   session,
		metrics:   m,
		cons:      cluster.Consistency,
		meta:      metaConsistency(cluster.Consistency),
		eventCons: cfg.EventConsistencyLevel().driver(), // validated
		health:    newHealth(m),
	}
	s.feed = &Feed{s: s}
	if s.server, err = detectServer(ctx, session, cfg.TLS != nil && cfg.TLS.Enabled); err != nil {
		session.Close()
		return nil, err
	}
	s.stmts = newStatements(cfg.Keyspace, s.server.Kind, cfg.Timeout)
	s.layout = newLayoutCache(s)
	s.activity = newActivity(s)
	if err := s.setupSchema(ctx); err != nil {
		session.Close()
		return nil, err
	}
	if err := s.layout.load(ctx); err != nil {
		session.Close()
		return nil, err
	}
	s.logServer(ctx)
	s.checkLayoutSetting()
	s.layout.start()
	s.writer = newWriter(s, o.writerID, cfg.LocalDC)
	s.getter = newGetter(s)
	logger.Infof("connected to %s", cfg.endpoint())
	return s, nil
}

// Close finishes the writes in flight, records that this writer stopped
// cleanly and closes the database session. It never touches the stored
// pins. It is safe to call more than once.
func (s *ScyllaState) Close() error {
	s.closeOnce.Do(func() {
		s.getter.close()
		s.writer.close()
		s.layout.close()
		s.session.Close()
	})
	return nil
}

// Config returns the configuration the store was built with.
func (s *ScyllaState) Config() *Config {
	return s.cfg
}

var (
	_ state.State         = (*ScyllaState)(nil)
	_ state.BatchingState = (*BatchingState)(nil)
)

// Add stores a pin, replacing any pin with the same CID (last writer
// wins). Its change event is written first; see the package
// documentation. Concurrent calls are written together.
func (s *ScyllaState) Add(ctx context.Context, p api.Pin) (err error) {
	defer func(start time.Time) { s.metrics.observe("add", start, err) }(time.Now())
	row, err := encodePin(p)
	if err != nil {
		return err
	}
	return s.writer.do(ctx, pinWrite(row))
}

// PinChange stores a pin as Add does and returns the write timestamp of
// the change (microseconds): the one its event carries.
func (s *ScyllaState) PinChange(ctx context.Context, p api.Pin) (ts int64, err error) {
	defer func(start time.Time) { s.metrics.observe("add", start, err) }(time.Now())
	row, err := encodePin(p)
	if err != nil {
		return 0, err
	}
	w := pinWrite(row)
	if err := s.writer.do(ctx, w); err != nil {
		return 0, err
	}
	return w.ts, nil
}

// UnpinChange removes a pin as Rm does and returns the write timestamp of
// the change.
func (s *ScyllaState) UnpinChange(ctx context.Context, c api.Cid) (ts int64, err error) {
	defer func(start time.Time) { s.metrics.observe("rm", start, err) }(time.Now())
	if !c.Defined() {
		return 0, ErrUndefinedCid
	}
	w := unpinWrite(c.Bytes())
	if err := s.writer.do(ctx, w); err != nil {
		return 0, err
	}
	return w.ts, nil
}

// Rm removes a pin. Removing a missing pin is not an error.
func (s *ScyllaState) Rm(ctx context.Context, c api.Cid) (err error) {
	defer func(start time.Time) { s.metrics.observe("rm", start, err) }(time.Now())
	if !c.Defined() {
		return ErrUndefinedCid
	}
	return s.writer.do(ctx, unpinWrite(c.Bytes()))
}

// Migrate is a no-op: New creates or upgrades the schema, and the
// serialized format it reads (Unmarshal) is upstream's current one.
func (s *ScyllaState) Migrate(ctx context.Context, r io.Reader) error {
	return nil
}
