// Package scyllastate implements upstream IPFS Cluster's state.State and
// state.BatchingState on ScyllaDB or Apache Cassandra (plain CQL), so that
// the shared pinset lives once, in the database, instead of in every peer.
// It also keeps the change feed that tells every peer about every change.
//
// # Layout
//
// One keyspace (Config.Keyspace) holds, in schema version 5:
//
//	pins(cid PRIMARY KEY, pin, meta, unpinned_at,  the pinset, and the
//	     ...)                                       markers unpins leave
//	pin_events((bucket, shard), event_id, cid,     the change feed
//	           pin, change, op)
//	feed_layout((component), from_bucket,          its partitions per
//	           partitions)                          minute (layout.go)
//	feed_activity((bucket), shard)                 its partitions in use
//	                                                (activity.go)
//	feed_members((component), member, position,    feed positions and
//	           heartbeat, safe_before, closed, ...)  writer heartbeats
//	pin_expiry((bucket), expire_at_ns, cid)        pins by expiry hour
//	tracker_errors((peer, bucket), cid, ...)       each peer's failed
//	                                                tracker operations
//	schema_history((component), version, ...)      one row per version
//	schema_version(component PRIMARY KEY, ...)     read by older builds
//
// No statement is a lightweight transaction, so the schema works on
// ScyllaDB keyspaces with tablets as on vnodes and on Cassandra; every
// statement is listed, with its partition key, consistency and
// idempotence, in docs/cql.md. On ScyllaDB (detected at start from its
// system.versions table) reads carry USING TIMEOUT and full scans BYPASS
// CACHE (see newStatements).
//
// # The shard-aware driver
//
// This module replaces github.com/gocql/gocql with ScyllaDB's fork,
// github.com/scylladb/gocql, which opens one connection per shard and
// sends each query to the shard that owns its partition. A replace
// directive applies only to the main module: a program that imports this
// package must carry the same line in its own go.mod,
//
//	replace github.com/gocql/gocql => github.com/scylladb/gocql v1.17.0
//
// or it talks to ScyllaDB without shard awareness. New logs once which it
// is (ServerInfo), and `ipfs-cluster-service scylla check` reports it.
//
// The pin column is api.Pin.ProtoMarshal(), byte for byte the value that
// upstream's dsstate stores, which keeps Marshal/Unmarshal compatible with
// dsstate; meta keeps what the protobuf drops (the user allocations,
// timestamps below one second), so that a pin read back equals the pin
// written. The schema is kept as versioned .cql files embedded in the
// binary (see schema.go): New creates it, upgrades an older keyspace in
// place, or, with schema_mode "check", only checks it.
//
// # Writes
//
// A change (Add, Rm, or a buffered one committed by a BatchingState) gets
// an event ID (a time UUID of the writer's physical clock, strictly
// increasing per writer) and a write timestamp T (microseconds) from a
// hybrid logical clock (see Ordering). It is written in two steps:
//
//  1. its event, in the partition (minute, shard) of pin_events: the
//     operation, T, the writer's name and the pin itself;
//  2. once the event is acknowledged, its pin row with timestamp T: the
//     pin and its meta, or for an unpin a deletion (at T-1) and the
//     unpin's marker unpinned_at = T, kept for event_retention; plus an
//     expiry index entry for a pin that expires.
//
// Concurrent changes are written together: their events in unlogged
// batches (no batchlog) of at most 10 partitions, then their rows alike,
// every batch kept below Cassandra's batch size and partition-count
// warnings. A batch that fails fails every change in it: their outcome is
// unknown, and the writer finishes them (see "Why no failure loses a
// change"). Rows are last-writer-wins by T. A single change costs two
// round trips and no batchlog; a busy peer writes many changes per
// request, and several groups at once (see commit.go).
//
// # Ordering
//
// T is max(the event ID's time, every timestamp this writer gave or
// observed + 1): a hybrid logical clock (Kulkarni et al., 2014). A store
// observes the timestamps of what it reads: the pin rows of Get, Has and
// ReadVersion (writetime of the pin, or the marker of the last unpin) and
// the events of the feed. Upstream's Cluster reads the pin before it pins
// or unpins it, so a change made after a peer observed another is stamped
// after it, whatever the two writers' clocks say, and wins everywhere:
// in the row and in every peer's applier. An unpin leaves its marker for
// event_retention, so a pin made within that time after reading an unpin
// wins over it too.
//
// Two writers that read the same value and change it at once may stamp
// the same T (both just after what they read); the unpin wins such a
// tie, in the row (the pin's columns are deleted at T) as in every
// peer's applier.
//
// What remains ordered by clocks: changes that did not observe each other
// (concurrent ones, or one made more than event_retention after an unpin
// it did not read), by T, as with any last-writer-wins store; and the
// visibility of events to readers, whose sweeps wait feed_overlap for
// late events (that wait covers a writer's clock running behind the
// readers' by up to the allowance feed_overlap is checked against). An
// observed timestamp more than an hour ahead of the local clock comes
// from a broken clock and is not followed (logged as an error).
//
// # Why no failure loses a change or applies one wrongly
//
// A row changes only after the event of that change is acknowledged, so
// no row ever holds a change that is missing from the feed: a peer
// reading the feed learns of every change of the pinset.
//
// The reverse can happen: a writer that dies, or whose write fails, after
// it sent an event leaves an event that may be in the feed without its
// row. The event is the commit record of the change, and the row is
// completed from it ("rolled forward": written with the event's T, which,
// rows being last-writer-wins, can never overwrite a newer change):
//
//   - a write that fails is not a failure: a timeout means the database
//     may have written it. An event sent but not acknowledged goes to the
//     writer's backlog with its ID and T and is written again until it is
//     acknowledged (CQL writes with the same timestamp are idempotent),
//     then its row is written; a row that fails is retried the same way.
//     The caller's error wraps ErrOutcomeUnknown: the change may still
//     happen. While the backlog holds ErrBacklog's limit, new changes are
//     refused with nothing written;
//   - an event acknowledged later than Config.WriteDeadline after its ID
//     time (a writer paused between stamping and writing, an event
//     retried from the backlog, the EACH_QUORUM fallback) may have become
//     visible after every reader's sweep passed it: once its row is
//     written, a fresh event with a new ID announces the same change
//     again. Readers settle such events against the row;
//   - a writer records, before its first event and then every
//     HeartbeatInterval, a heartbeat and a safe point: the ID time before
//     which all its writes are complete. Nothing in flight or in the
//     backlog is ever behind it. A writer that stops cleanly with an empty
//     backlog records closed;
//   - when a peer restarts, it completes its own changes since its safe
//     point before it reports ready; when a writer's heartbeat is older
//     than WriterTimeout and it did not close, the live peer with the
//     smallest ID completes its changes (row, then a fresh event) and
//     marks it done;
//   - readers of the feed apply the change an event carries (they never
//     re-read the row of a fresh event), so they do not depend on the row
//     at all; an event they cannot compare with what they applied (too
//     old, or without payload) is settled against the row, which is rolled
//     forward first when it is older than the event.
//
// So every event in the feed ends with its row, or is superseded by a
// newer change. The tests produce ambiguous writes on purpose with a
// fault proxy between the store and Cassandra (internal/cqlproxy), kill a
// writer process between the two steps (consensus/scylla crash_test.go),
// skew writers' clocks (internal/seams) and pause them between stamping
// and writing.
//
// # Reads
//
// Get and Has read one row; concurrent calls are read together with one
// query. List streams the table with parallel token-range scans, paged,
// never counting and never holding the table in memory; ListSlice reads one
// slice of the token ring.
//
// # Three types, three jobs
//
// ScyllaState is the pinset (upstream's state.State and BatchingState,
// the write path, the tracker errors). Its change feed is a Feed
// (ScyllaState.Feed): the events, read a few partitions at a time
// (ReadPartitions, cursors of type EventID, no driver type in its API) or
// over a time range (Events), the readers' checkpoints and the writers'
// records, the layout, the expiry index, and the completion of changes
// from their events (RollForward, Reannounce): what consensus/scylla
// uses. A Reader (OpenReader) reads a keyspace with the same statements
// and writes nothing: diagnostics (package diag) build on it.
//
// Inside, the parts depend one way. A db (db.go) is what every part
// shares: the session, the keyspace's statements, the settings, health
// and metrics. The parts are built from it and know nothing above them:
// the feed layout (layout.go) and activity index (activity.go), the
// writer (writer.go: clocks and backlog; write.go: the write path;
// commit.go: groups; backlog.go: background work), the readers of pins
// (getter.go) and of events (feedread.go), and the schema setup
// (setup.go). ScyllaState, Feed and Reader hold the parts. The readers
// move the writer's clock (observe) through a function they are given.
//
// Nothing in this package deletes the keyspace or empties the table: that
// is left to an explicit, confirmed command.
package scyllastate
