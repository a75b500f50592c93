package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// Reader reads a keyspace with the store's own statements and writes
// nothing: it creates no keyspace and no table, records no heartbeat and
// has no method that changes a pin, so it is safe on the keyspace of a
// running cluster. It is what diagnostics (package diag) build on.
type Reader struct {
	// s has no writer, no getter and no schema set up: nothing can
	// write through it.
	s         *ScyllaState
	serverErr error
}

// OpenReader connects to the database of cfg as New does, once (errors
// wrap ErrConnect, ErrAuth or ErrTLS), but checks and creates nothing.
// The driver's own log is silenced: the caller reports the errors it
// meets. cfg must be valid (Validate).
func OpenReader(ctx context.Context, cfg *Config) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	once := *cfg
	once.RetryPolicy = &RetryPolicyConfig{NumRetries: 0, MinRetryDelay: DefaultMinRetryDelay, MaxRetryDelay: DefaultMaxRetryDelay}
	var cluster *gocql.ClusterConfig
	session, err := connect(ctx, &once, func() (*gocql.ClusterConfig, error) {
		c, err := cfg.DriverConfig()
		if err != nil {
			return nil, err
		}
		cluster = c
		return c, nil
	}, false, "")
	if err != nil {
		return nil, err
	}
	s := &ScyllaState{db: &db{
		cfg:       cfg,
		session:   session,
		cons:      cluster.Consistency,
		meta:      metaConsistency(cluster.Consistency),
		eventCons: cluster.Consistency,
	}}
	r := &Reader{s: s}
	s.server, r.serverErr = detectServer(ctx, session, cfg.TLS != nil && cfg.TLS.Enabled)
	s.stmts = newStatements(cfg.Keyspace, s.server.Kind, cfg.Timeout)
	s.layout = newLayoutCache(s.db)
	// No writer: the feed of a Reader reads no events (observe is nil).
	s.feed = &Feed{db: s.db, layout: s.layout, events: &eventReader{db: s.db, layout: s.layout}}
	return r, nil
}

// DriverConfig returns the driver configuration the store starts from
// (hosts, consistency, timeouts, routing, authentication, TLS), with the
// driver's own log silenced, for diagnostics that open sessions of their
// own. Errors name the config field to fix.
func (cfg *Config) DriverConfig() (*gocql.ClusterConfig, error) {
	c, err := cfg.clusterConfig(nil)
	if err != nil {
		return nil, err
	}
	c.Logger = quietDriver
	seams.ObserveCQL(c) // tests only: see seams.SetCQLObserver
	return c, nil
}

// StartSession starts a driver session from c, once, abandoning it when
// ctx ends. Errors wrap ErrAuth, ErrTLS or ErrConnect with a hint naming
// the settings of cfg involved.
func StartSession(ctx context.Context, cfg *Config, c *gocql.ClusterConfig) (*gocql.Session, error) {
	s, err := createSession(ctx, c)
	if err != nil {
		return nil, classifyConnectError(cfg, err)
	}
	return s, nil
}

// quietDriver silences the driver's own log.
var quietDriver = log.New(io.Discard, "", 0)

// Close closes the session.
func (r *Reader) Close() { r.s.session.Close() }

// Session is the reader's driver session, for reads of the server's own
// tables (system, system_schema) that the store does not make.
func (r *Reader) Session() *gocql.Session { return r.s.session }

// Server returns what the database server is (ScyllaDB or Cassandra, its
// version, whether the driver is shard-aware), or why that could not be
// told (then the reader uses Cassandra's statements).
func (r *Reader) Server() (ServerInfo, error) { return r.s.server, r.serverErr }

// KeyspaceTablets tells whether the ScyllaDB keyspace uses tablets (see
// ScyllaState.KeyspaceTablets).
func (r *Reader) KeyspaceTablets(ctx context.Context) (bool, error) {
	return r.s.KeyspaceTablets(ctx)
}

// Layout reads the change feed's layout (see Feed.Layout).
func (r *Reader) Layout(ctx context.Context) ([]LayoutEntry, error) { return r.s.feed.Layout(ctx) }

// Partitions lists the partitions of the change feed (see
// Feed.Partitions).
func (r *Reader) Partitions(ctx context.Context, from, to time.Time) ([]Partition, error) {
	return r.s.feed.Partitions(ctx, from, to)
}

// Writers lists the feed positions and writer heartbeats recorded in the
// keyspace (see Feed.Writers).
func (r *Reader) Writers(ctx context.Context) ([]WriterInfo, error) { return r.s.feed.Writers(ctx) }

// SchemaVersion reads the recorded schema version and the oldest version
// a build must support to use the keyspace, as New does (schema_history,
// or schema_version for keyspaces of versions 1 to 3). Both are zero when
// the keyspace records none.
func (r *Reader) SchemaVersion(ctx context.Context) (version, minCompatible int, err error) {
	v, err := r.s.readVersion(ctx)
	return v.version, v.minCompatible, err
}

// probeCid is read by ProbeRead: the CID of no bytes (identity hash),
// which no one pins.
var probeCid = func() []byte {
	c, err := api.DecodeCid("bafkqaaa")
	if err != nil {
		panic(err)
	}
	return c.Bytes()
}()

// ProbeRead reads, at the configured consistency, the pin row of a CID
// that is not pinned, as Has does, and returns how long it took.
func (r *Reader) ProbeRead(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var cid []byte
	err := r.s.session.Query(r.s.stmts.has, probeCid).WithContext(ctx).Consistency(r.s.cons).Scan(&cid)
	took := time.Since(start)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return took, fmt.Errorf("reading a pin row at %s: %w", r.s.cons, err)
	}
	return took, nil
}

// NewestEvent reads the newest event of one partition of the change
// feed, and false when it has none. An event that cannot be decoded is
// returned as Legacy with its ID only: its time still counts.
func (r *Reader) NewestEvent(ctx context.Context, p Partition) (Event, bool, error) {
	var (
		id            gocql.UUID
		cid, pin, chg []byte
		op            *int8
	)
	err := r.s.session.Query(r.s.stmts.newestEvent, p.Bucket, p.Shard).WithContext(ctx).Scan(&id, &cid, &op, &pin, &chg)
	if errors.Is(err, gocql.ErrNotFound) {
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("reading the newest event of feed partition %d/%d: %w", p.Bucket, p.Shard, err)
	}
	if e, ok := decodeEvent(id, cid, op, pin, chg); ok {
		return e, true, nil
	}
	return Event{ID: EventID{id}, Legacy: true}, true, nil
}
