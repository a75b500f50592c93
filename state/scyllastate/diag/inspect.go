// Package diag reads what `ipfs-cluster-service scylla check` reports
// about a database and a keyspace: each contact point probed on its own
// (ProbeHost: name, TCP, TLS, login, nodes, clock), and the keyspace read
// through the store's own statements (Inspect: replication, tables,
// schema version, a read latency probe, the newest event of the change
// feed, the feed positions and heartbeats of the peers). It never writes.
// It builds on scyllastate (its Reader); scyllastate does not know it.
package diag

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// Inspector reads what `ipfs-cluster-service scylla check` reports about
// a keyspace: its replication, tables and schema version, a read latency
// probe, the newest event of the change feed and the feed positions and
// heartbeats of the peers. It never writes (see scyllastate.Reader): it
// is safe on the keyspace of a running cluster.
type Inspector struct {
	*scyllastate.Reader
	cfg *scyllastate.Config
}

// Inspect connects to the database of cfg as scyllastate.New does, once
// (errors wrap scyllastate.ErrConnect, ErrAuth or ErrTLS), but checks and
// creates nothing. cfg must be valid (Validate).
func Inspect(ctx context.Context, cfg *scyllastate.Config) (*Inspector, error) {
	r, err := scyllastate.OpenReader(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Inspector{Reader: r, cfg: cfg}, nil
}

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
	ks := KeyspaceInfo{Name: in.cfg.Keyspace}
	var repl map[string]string
	err := in.Session().Query(
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
	iter := in.Session().Query(
		"SELECT table_name, gc_grace_seconds, default_time_to_live FROM system_schema.tables WHERE keyspace_name = ?", in.cfg.Keyspace,
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
		return nil, fmt.Errorf("reading the tables of keyspace %q: %w", in.cfg.Keyspace, err)
	}
	return out, nil
}

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
	v, minCompatible, err := in.Reader.SchemaVersion(ctx)
	if err != nil {
		return SchemaInfo{}, err
	}
	return SchemaInfo{Found: v != 0, Version: v, MinCompatible: minCompatible}, nil
}

// NewestEvent returns the newest event of the change feed among the
// partitions from one bucket after now (writers whose clock runs ahead)
// back to now-window, and false when there is none. Partitions are read
// newest first, a few buckets at a time, one row each.
func (in *Inspector) NewestEvent(ctx context.Context, now time.Time, window time.Duration) (scyllastate.Event, bool, error) {
	const bucketsAtOnce = 4
	parts, err := in.Partitions(ctx, now.Add(-window), now.Add(scyllastate.BucketWidth))
	if err != nil {
		return scyllastate.Event{}, false, err
	}
	// Partitions come oldest bucket first: read them from the end.
	var buckets [][]scyllastate.Partition
	for i, p := range parts {
		if i == 0 || p.Bucket != parts[i-1].Bucket {
			buckets = append(buckets, nil)
		}
		buckets[len(buckets)-1] = append(buckets[len(buckets)-1], p)
	}
	for end := len(buckets); end > 0; end -= bucketsAtOnce {
		var batch []scyllastate.Partition
		for _, b := range buckets[max(0, end-bucketsAtOnce):end] {
			batch = append(batch, b...)
		}
		if e, found, err := in.newestOf(ctx, batch); err != nil || found {
			return e, found, err
		}
	}
	return scyllastate.Event{}, false, nil
}

// newestOf reads the newest event of each partition, in parallel, and
// returns the newest of all.
func (in *Inspector) newestOf(ctx context.Context, parts []scyllastate.Partition) (scyllastate.Event, bool, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		best     scyllastate.Event
		found    bool
		firstErr error
	)
	for _, p := range parts {
		wg.Add(1)
		go func(p scyllastate.Partition) {
			defer wg.Done()
			e, ok, err := in.Reader.NewestEvent(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case ok && (!found || e.Time().After(best.Time())):
				best, found = e, true
			}
		}(p)
	}
	wg.Wait()
	if firstErr != nil {
		return scyllastate.Event{}, false, firstErr
	}
	return best, found, nil
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
