// Package cqlproxy is a TCP fault proxy for tests, to put between a CQL
// driver (gocql) and one real Cassandra or Scylla node's native port, so
// that a test can produce on purpose:
//
//   - an ambiguous write, which the server applies but whose response
//     never comes back (DropResponses, DropResponsesWhere);
//   - a paused coordinator, whose responses come back late, in order
//     (HoldResponses, then Pass);
//   - a slow coordinator or replica (Delay, DelayWhere);
//   - a network partition (Blackhole, then Pass to heal it, or Refuse to
//     make it kill the connections);
//   - a node that is down (Refuse).
//
// The proxy reads the CQL native protocol v4 (and v3) frame by frame in
// both directions and forwards frames whole and unchanged, so it never
// corrupts a stream: a fault discards, holds or delays whole frames. It
// matches each response to its request by stream ID, and learns the text
// of prepared statements from the PREPARE requests and their results, so
// that a fault can select the responses to some statements only
// (StatementContains). Stats counts what it did; Err reports what it
// could not parse.
//
// # Protocol version
//
// Protocol v5 wraps frames in checksummed segments once the connection is
// set up, which the proxy does not parse. gocql (scylladb/gocql v1.17)
// negotiates v4 when ClusterConfig.ProtoVersion is 0, even against
// Cassandra 5 (it tries v4 first and keeps it when the node accepts it),
// so by default it works; ConfigureCluster sets ProtoVersion to 4 anyway.
// A client that sends a v5 frame gets a protocol error naming the
// supported versions (as from a node that supports v3 and v4 only, so a
// negotiating driver falls back to v4), its connection is closed and Err
// reports it. TLS and compressed frames are not supported either: the
// proxy needs plain CQL (with compression, statement filters see no
// text).
//
// # Keeping the driver on the proxy
//
// gocql learns node addresses from system.local and system.peers and
// opens its pool there. scylladb/gocql v1.17 registers the node that its
// control connection reached under the address and port it dialled
// (controlConn.setupConn), and discovery only fills in what is missing,
// so with one node every connection stays on the proxy. Other nodes of a
// cluster, learnt from system.peers, are reached directly; Scylla's
// shard-aware port would bypass the proxy too. ConfigureCluster covers
// all of it: contact point and Port on the proxy, ProtoVersion 4, an
// AddressTranslator that maps the node to the proxy, and
// DisableShardAwarePort:
//
//	p, err := cqlproxy.New("127.0.0.1:9042")
//	...
//	defer p.Close()
//	c := gocql.NewCluster()
//	p.ConfigureCluster(c)
//	c.Timeout = time.Second
//	c.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
//	session, err := c.CreateSession()
//	p.DropResponsesWhere(cqlproxy.StatementContains("INSERT", "pin_events"))
//
// A scyllastate store takes no driver settings outside the package's own
// tests (scyllastate.WithClusterHook is in its export_test.go; there,
// pass WithClusterHook(p.ConfigureCluster)). Elsewhere set Config.Hosts
// to []string{p.Host()} and Config.Port to p.Port() on a copy of the
// test's Config (cqltest drops the keyspace through the original, after
// the proxy is closed): with one node (scripts/cassandra.sh's default)
// that keeps every connection on the proxy, and gocql negotiates v4 by
// itself. Against Scylla, the shard-aware port cannot be disabled that
// way.
//
// # Lifetime
//
// Close stops the listener and every connection, and returns once every
// goroutine of the proxy has: call it (t.Cleanup) before the test ends.
// A gocql session closed while the proxy is in Blackhole can take up to a
// minute to Close: its control connection's heartbeat (OPTIONS) waits for
// its answer (MetadataSchemaRequestTimeout, 60 s). Call Pass, or close
// the proxy, before closing such a session.
package cqlproxy
