package scyllastate

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"
)

// ServerKind is the database product the store talks to. The CQL it sends
// differs where ScyllaDB offers more (USING TIMEOUT, BYPASS CACHE, see
// newStatements); everything else is the same on both.
type ServerKind int

const (
	// Cassandra is Apache Cassandra, or any CQL server that is not
	// ScyllaDB.
	Cassandra ServerKind = iota
	// Scylla is ScyllaDB.
	Scylla
)

func (k ServerKind) String() string {
	if k == Scylla {
		return "ScyllaDB"
	}
	return "Apache Cassandra"
}

// ServerInfo describes the database server and how the driver talks to it.
type ServerInfo struct {
	Kind ServerKind
	// Version is ScyllaDB's own version (system.versions), or Cassandra's
	// release_version.
	Version string
	// DriverShardAware tells whether the gocql in this program is
	// ScyllaDB's shard-aware fork (github.com/scylladb/gocql, through a
	// replace directive): it opens one connection per shard and sends
	// each query to the shard that owns its data.
	DriverShardAware bool
	// ShardAwarePort is the shard-aware port the servers advertise (19042
	// by default, 19142 with TLS), 0 when none does or the driver is not
	// shard-aware.
	ShardAwarePort uint16
}

// detectServer asks the server what it is: ScyllaDB answers from its
// system.versions table, which Cassandra does not have.
func detectServer(ctx context.Context, session *gocql.Session, tls bool) (ServerInfo, error) {
	var info ServerInfo
	var version string
	// Not retried: on Cassandra the answer is an error, and not a failure.
	err := session.Query("SELECT version FROM system.versions WHERE key = 'local'").
		WithContext(ctx).Consistency(gocql.One).RetryPolicy(&gocql.SimpleRetryPolicy{NumRetries: 0}).Scan(&version)
	var re gocql.RequestError
	switch {
	case err == nil:
		info.Kind, info.Version = Scylla, version
	case errors.As(err, &re) && re.Code() == gocql.ErrCodeInvalid, errors.Is(err, gocql.ErrNotFound):
		// "unconfigured table versions": not ScyllaDB.
		if err := session.Query("SELECT release_version FROM system.local WHERE key = 'local'").
			WithContext(ctx).Consistency(gocql.One).Scan(&version); err != nil {
			return info, fmt.Errorf("reading the server's version: %w", err)
		}
		info.Kind, info.Version = Cassandra, version
	default:
		return info, fmt.Errorf("asking the server whether it is ScyllaDB: %w", err)
	}
	// The methods exist only in ScyllaDB's fork of the driver: asked
	// through an interface, so that this package builds with either.
	type shardAware interface {
		ScyllaShardAwarePort() uint16
		ScyllaShardAwarePortTLS() uint16
	}
	for _, h := range session.GetHosts() {
		sa, ok := any(h).(shardAware)
		if !ok {
			break
		}
		info.DriverShardAware = true
		port := sa.ScyllaShardAwarePort()
		if tls {
			port = sa.ScyllaShardAwarePortTLS()
		}
		if port != 0 {
			info.ShardAwarePort = port
			break
		}
	}
	if len(session.GetHosts()) == 0 {
		_, info.DriverShardAware = any(&gocql.HostInfo{}).(shardAware)
	}
	return info, nil
}

// describe says in one line what the server is and what that means for
// the store, for the log at start.
func (i ServerInfo) describe() string {
	switch {
	case i.Kind == Cassandra:
		return fmt.Sprintf("%s %s", i.Kind, i.Version)
	case !i.DriverShardAware:
		return fmt.Sprintf("%s %s WITHOUT shard awareness: this program's gocql is not ScyllaDB's fork; "+
			"add `replace github.com/gocql/gocql => github.com/scylladb/gocql v1.17.0` to its go.mod (see the README)", i.Kind, i.Version)
	case i.ShardAwarePort == 0:
		return fmt.Sprintf("%s %s with the shard-aware driver, but no server advertises a shard-aware port "+
			"(native_shard_aware_transport_port): connections reach shards at random", i.Kind, i.Version)
	default:
		return fmt.Sprintf("%s %s with the shard-aware driver: one connection per shard through port %d (num_conns does not apply)",
			i.Kind, i.Version, i.ShardAwarePort)
	}
}
