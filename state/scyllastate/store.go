package scyllastate

import (
	"context"
	"errors"
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
	existing    bool
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

// WithExistingPinset makes New refuse a keyspace that has no scyllastate
// schema (missing, or a mistyped name) instead of creating it: for the
// commands that only read or remove pins (state export, state cleanup),
// which must not create a keyspace and report an empty pinset.
func WithExistingPinset() Option {
	return func(o *options) { o.existing = true }
}

// WithRetryHint adds a hint to the log line of each failed connection
// attempt, e.g. how long the caller keeps retrying.
func WithRetryHint(hint string) Option {
	return func(o *options) { o.retryHint = hint }
}

// ScyllaState is the shared pinset stored in a CQL database. It is safe
// for concurrent use. Close it when done.
type ScyllaState struct {
	*db
	server   ServerInfo
	layout   *layoutCache
	activity *activity

	writer *writer
	getter *getter
	feed   *Feed
	// errWrites groups the writes of tracker errors.
	errWrites *errorWrites

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
	s := &ScyllaState{db: &db{
		cfg:       cfg,
		session:   session,
		metrics:   m,
		cons:      cluster.Consistency,
		meta:      metaConsistency(cluster.Consistency),
		eventCons: cfg.EventConsistencyLevel().driver(), // validated
		health:    newHealth(m),
	}}
	if s.server, err = detectServer(ctx, session, cfg.TLS != nil && cfg.TLS.Enabled); err != nil {
		session.Close()
		return nil, err
	}
	s.stmts = newStatements(cfg.Keyspace, s.server.Kind, cfg.Timeout)
	s.layout = newLayoutCache(s.db)
	s.activity = newActivity(s.db)
	if err := s.setupSchema(ctx, s.layout, o.existing); err != nil {
		session.Close()
		return nil, err
	}
	if err := s.layout.load(ctx); err != nil {
		session.Close()
		return nil, err
	}
	s.logServer(ctx)
	s.layout.checkLayoutSetting()
	s.layout.start()
	s.writer = newWriter(s.db, s.layout, s.activity, o.writerID, cfg.LocalDC)
	s.getter = newGetter(s.db, s.writer.observe)
	s.errWrites = newErrorWrites(s.db)
	s.writer.groups.observe = m.groupObserver("write")
	s.getter.groups.observe = m.groupObserver("read")
	s.errWrites.groups.observe = m.groupObserver("tracker_error")
	s.feed = &Feed{db: s.db, layout: s.layout, events: s.writer.events, writer: s.writer}
	logger.Infof("connected to %s", cfg.endpoint())
	return s, nil
}

// Close finishes the writes in flight, records that this writer stopped
// cleanly and closes the database session. It never touches the stored
// pins. It is safe to call more than once.
func (s *ScyllaState) Close() error {
	s.closeOnce.Do(func() {
		s.getter.close()
		s.errWrites.close()
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

// Feed returns the change feed of the store.
func (s *ScyllaState) Feed() *Feed { return s.feed }

// Healthy tells whether database calls currently succeed, and if not the
// last error.
func (s *ScyllaState) Healthy() (bool, error) { return s.health.status() }

// Server returns what the store knows of the database server.
func (s *ScyllaState) Server() ServerInfo { return s.server }

// KeyspaceTablets tells whether a ScyllaDB keyspace distributes its data
// with tablets (the default of ScyllaDB 2025.x for NetworkTopologyStrategy)
// rather than vnodes. Always false on Cassandra.
func (s *ScyllaState) KeyspaceTablets(ctx context.Context) (bool, error) {
	if s.server.Kind != Scylla {
		return false, nil
	}
	var initial *int
	err := s.session.Query("SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = ?", s.cfg.Keyspace).
		WithContext(ctx).Consistency(gocql.One).Scan(&initial)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading whether keyspace %q uses tablets: %w", s.cfg.Keyspace, err)
	}
	return initial != nil, nil
}

// logServer says once, at start, what the server is, and on ScyllaDB
// whether the keyspace uses tablets or vnodes.
func (s *ScyllaState) logServer(ctx context.Context) {
	logger.Infof("database: %s", s.server.describe())
	if s.server.Kind != Scylla {
		return
	}
	tablets, err := s.KeyspaceTablets(ctx)
	switch {
	case err != nil:
		logger.Warnf("%s", err)
	case tablets:
		logger.Infof("keyspace %q uses tablets: fine, the store sends no lightweight transaction, counter or index; "+
			"the change feed's partitions per minute (event_partitions) spread its writes over the tablets", s.cfg.Keyspace)
	default:
		logger.Infof("keyspace %q uses vnodes: the change feed's partitions per minute (event_partitions) spread its writes over the shards", s.cfg.Keyspace)
	}
}

var _ state.State = (*ScyllaState)(nil)

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
