package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// Inspector reads what `ipfs-cluster-service scylla check` reports about
// a keyspace: its replication, tables and schema version, a read latency
// probe, the newest event of the change feed and the feed positions and
// heartbeats of the peers. It never writes: it creates no keyspace and no
// table, records no heartbeat and has no method that changes a pin. It is
// safe on the keyspace of a running cluster.
type Inspector struct {
	// s has no writer and no getter: nothing can write through it.
	s         *ScyllaState
	serverErr error
}

// Inspect connects to the database of cfg as New does, once (errors wrap
// ErrConnect, ErrAuth or ErrTLS), but checks and creates nothing. cfg
// must be valid (Validate).
func Inspect(ctx context.Context, cfg *Config) (*Inspector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	once := *cfg
	once.RetryPolicy = &RetryPolicyConfig{NumRetries: 0, MinRetryDelay: DefaultMinRetryDelay, MaxRetryDelay: DefaultMaxRetryDelay}
	var cluster *gocql.ClusterConfig
	session, err := connect(ctx, &once, func() (*gocql.ClusterConfig, error) {
		c, err := cfg.clusterConfig(nil)
		if err != nil {
			return nil, err
		}
		c.Logger = quietDriver
		seams.ObserveCQL(c) // tests only: see seams.SetCQLObserver
		cluster = c
		return c, nil
	}, false, "")
	if err != nil {
		return nil, err
	}
	s := &ScyllaState{
		cfg:       cfg,
		session:   session,
		cons:      cluster.Consistency,
		meta:      metaConsistency(cluster.Consistency),
		eventCons: cluster.Consistency,
	}
	in := &Inspector{s: s}
	s.server, in.serverErr = detectServer(ctx, session, cfg.TLS != nil && cfg.TLS.Enabled)
	s.stmts = newStatements(cfg.Keyspace, s.server.Kind, cfg.Timeout)
	s.layout = newLayoutCache(s)
	return in, nil
}

// Server returns what the database server is (ScyllaDB or Cassandra, its
// version, whether the driver is shard-aware), or why that could not be
// told (then the check goes on with Cassandra's statements).
func (in *Inspector) Server() (ServerInfo, error) { return in.s.server, in.serverErr }

// KeyspaceTablets tells whether the ScyllaDB keyspace uses tablets (see
// ScyllaState.KeyspaceTablets).
func (in *Inspector) KeyspaceTablets(ctx context.Context) (bool, error) {
	return in.s.KeyspaceTablets(ctx)
}

// FeedLayout reads the change feed's layout (see ScyllaState.FeedLayout).
func (in *Inspector) FeedLayout(ctx context.Context) ([]LayoutEntry, error) {
	return in.s.FeedLayout(ctx)
}

// quietDriver silences the driver's own log: the check reports every
// error it meets itself.
var quietDriver = log.New(io.Discard, "", 0)

// Close closes the session.
func (in *Inspector) Close() { in.s.session.Close() }

// KeyspaceInfo is the replication of a keyspace, from system_schema.
type KeyspaceInfo struct {
	Name string
	// Exists is false when the keyspace does not exist.
	Exists bool
	// Class is the replication strategy without its Java package:
	// SimpleStrategy, NetworkTopologyStrategy, ...
	Class string
	// Options are the other replication options: replication_factor for
	// SimpleStrategy, one factor per data center for
	// NetworkTopologyStrategy.
	Options map[string]string
	// DurableWrites is the keyspace's durable_writes.
	DurableWrites bool
}

// Keyspace reads the replication of the configured keyspace.
func (in *Inspector) Keyspace(ctx context.Context) (KeyspaceInfo, error) {
	ks := KeyspaceInfo{Name: in.s.cfg.Keyspace}
	var repl map[string]string
	err := in.s.session.Query(
		"SELECT replication, durable_writes FROM system_schema.keyspaces WHERE keyspace_name = ?", ks.Name,
	).WithContext(ctx).Consistency(gocql.LocalOne).Scan(&repl, &ks.DurableWrites)
	if errors.Is(err, gocql.ErrNotFound) {
		return ks, nil
	}
	if err != nil {
		return ks, fmt.Errorf("reading the replication of keyspace %q: %w", ks.Name, err)
	}
	ks.Exists = true
	ks.Options = map[string]string{}
	for k, v := range repl {
		if k == "class" {
			ks.Class = v[strings.LastIndex(v, ".")+1:]
			continue
		}
		ks.Options[k] = v
	}
	return ks, nil
}

// TableInfo is what system_schema records about one table.
type TableInfo struct {
	Name string
	// GCGrace is gc_grace_seconds: how long deletions (tombstones) are
	// kept before compaction may purge them.
	GCGrace time.Duration
	// DefaultTTL is default_time_to_live (zero: none).
	DefaultTTL time.Duration
}

// Tables reads the tables of the configured keyspace, by name.
func (in *Inspector) Tables(ctx context.Context) (map[string]TableInfo, error) {
	iter := in.s.session.Query(
		"SELECT table_name, gc_grace_seconds, default_time_to_live FROM system_schema.tables WHERE keyspace_name = ?", in.s.cfg.Keyspace,
	).WithContext(ctx).Consistency(gocql.LocalOne).Iter()
	out := map[string]TableInfo{}
	var (
		name       string
		grace, ttl int
	)
	for iter.Scan(&name, &grace, &ttl) {
		out[name] = TableInfo{Name: name, GCGrace: time.Duration(grace) * time.Second, DefaultTTL: time.Duration(ttl) * time.Second}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading the tables of keyspace %q: %w", in.s.cfg.Keyspace, err)
	}
	return out, nil
}

// RequiredTables are the tables of the schema this build uses.
func RequiredTables() []string { return append([]string(nil), tables...) }

// The tables of the schema, by role.
const (
	PinsTable          = pinsTable
	EventsTable        = eventsTable
	CheckpointsTable   = membersTable
	LayoutTable        = layoutTable
	SchemaVersionTable = schemaVersionTable
)

// SchemaInfo is the schema version a keyspace records.
type SchemaInfo struct {
	// Found is false when the keyspace records no version (no schema,
	// or a schema_version table without its row).
	Found         bool
	Version       int
	MinCompatible int
}

// SchemaVersion reads the recorded schema version, as the store does
// (schema_history, or schema_version for keyspaces of versions 1 to 3).
func (in *Inspector) SchemaVersion(ctx context.Context) (SchemaInfo, error) {
	v, err := in.s.readVersion(ctx)
	if err != nil {
		return SchemaInfo{}, err
	}
	return SchemaInfo{Found: v.version != 0, Version: v.version, MinCompatible: v.minCompatible}, nil
}

// CheckSchemaVersion tells whether this build can use a keyspace that
// records version and minCompatible, with the error New would return.
// A compatible keyspace older than SchemaVersion is still upgraded by New
// (schema_mode create) or refused (schema_mode check).
func CheckSchemaVersion(keyspace string, version, minCompatible int) error {
	return checkCompatible(keyspace, storedVersion{version: version, minCompatible: minCompatible})
}

// SchemaUpdateFiles lists the embedded files that take a keyspace from
// version from to SchemaVersion, for cqlsh.
func SchemaUpdateFiles(from int) []string { return updateFiles(from) }

// SchemaFile is the embedded file holding the whole current schema.
const SchemaFile = schemaDir + "/schema.cql"

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
func (in *Inspector) ProbeRead(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var cid []byte
	err := in.s.session.Query(in.s.stmts.has, probeCid).WithContext(ctx).Consistency(in.s.cons).Scan(&cid)
	took := time.Since(start)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return took, fmt.Errorf("reading a pin row at %s: %w", in.s.cons, err)
	}
	return took, nil
}

// Writers lists the feed positions and writer heartbeats recorded in the
// keyspace (see ScyllaState.Writers).
func (in *Inspector) Writers(ctx context.Context) ([]WriterInfo, error) {
	return in.s.Writers(ctx)
}

// NewestEvent returns the newest event of the change feed among the
// partitions from one bucket after now (writers whose clock runs ahead)
// back to now-window, and false when there is none. Partitions are read
// newest first, a few buckets at a time, one row each.
func (in *Inspector) NewestEvent(ctx context.Context, now time.Time, window time.Duration) (Event, bool, error) {
	const bucketsAtOnce = 4
	stmt := in.s.stmts.newestEvent
	oldest := bucketOf(now.Add(-window))
	layout, err := in.s.layout.forBuckets(ctx, bucketOf(now.Add(eventBucket)))
	if err != nil {
		return Event{}, false, err
	}
	for b := bucketOf(now.Add(eventBucket)); b >= oldest; b -= bucketsAtOnce {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			best     Event
			found    bool
			firstErr error
		)
		for bb := b; bb > b-bucketsAtOnce && bb >= oldest; bb-- {
			for shard := 0; shard < layout.at(bb); shard++ {
				wg.Add(1)
				go func(p Partition) {
					defer wg.Done()
					e, ok, err := in.newestIn(ctx, stmt, p)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil && firstErr == nil:
						firstErr = err
					case ok && (!found || e.Time().After(best.Time())):
						best, found = e, true
					}
				}(Partition{Bucket: bb, Shard: int8(shard)})
			}
		}
		wg.Wait()
		if firstErr != nil {
			return Event{}, false, firstErr
		}
		if found {
			return best, true, nil
		}
	}
	return Event{}, false, nil
}

func (in *Inspector) newestIn(ctx context.Context, stmt string, p Partition) (Event, bool, error) {
	var (
		id            gocql.UUID
		cid, pin, chg []byte
		op            *int8
	)
	err := in.s.session.Query(stmt, p.Bucket, p.Shard).WithContext(ctx).Scan(&id, &cid, &op, &pin, &chg)
	if errors.Is(err, gocql.ErrNotFound) {
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("reading the newest event of feed partition %d/%d: %w", p.Bucket, p.Shard, err)
	}
	if e, ok := decodeEvent(id, cid, op, pin, chg); ok {
		return e, true, nil
	}
	return Event{ID: id, Legacy: true}, true, nil // unreadable: its time still counts
}

// sortNodes orders nodes by data center, then address.
func sortNodes(ns []Node) {
	sort.Slice(ns, func(i, j int) bool {
		if ns[i].DataCenter != ns[j].DataCenter {
			return ns[i].DataCenter < ns[j].DataCenter
		}
		return ns[i].Address < ns[j].Address
	})
}
