// Package scyllastate implements upstream IPFS Cluster's state.State and
// state.BatchingState on ScyllaDB or Apache Cassandra (plain CQL), so that
// the shared pinset lives once, in the database, instead of in every peer.
// It also keeps the change feed that tells every peer about every change.
//
// # Layout
//
// One keyspace (Config.Keyspace) holds, in schema version 2:
//
//	pins(cid PRIMARY KEY, pin, meta, ...)          the pinset
//	pin_events((bucket, shard), event_id, cid,     the change feed
//	           pin, change, op)
//	peer_checkpoints(reader PRIMARY KEY, position,  feed positions and
//	           heartbeat, safe_before, closed, ...)   writer heartbeats
//	pin_expiry((bucket), expire_at_ns, cid)        pins by expiry hour
//	schema_version(component PRIMARY KEY, version, min_compatible)
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
// a write timestamp T (microseconds, strictly increasing per writer) and
// an event ID (a time UUID of T). It is written in two steps:
//
//  1. its event, in the partition (minute, shard) of pin_events: the
//     operation, T, the writer's name and the pin itself;
//  2. once the event is acknowledged, its pin row (insert or delete)
//     with timestamp T, plus an expiry index entry for a pin that
//     expires.
//
// Concurrent changes are written together: the events of one feed
// partition in one single-partition unlogged batch (atomic and isolated,
// no batchlog), the rows in unlogged batches kept below Cassandra's batch
// size warning. Rows are last-writer-wins by T, as with upstream's crdt.
// A single change costs two round trips and no batchlog; a busy peer
// writes many changes per request (see writer.go).
//
// # Why no crash loses a change or applies one wrongly
//
// A row changes only after the event of that change is acknowledged, so
// no row ever holds a change that is missing from the feed: a peer
// reading the feed learns of every change of the pinset.
//
// The reverse can happen: a writer that dies (or whose row write fails)
// after step 1 leaves an event whose row was not written. The event is
// the commit record of the change, and the row is completed from it
// ("rolled forward": written with the event's T, which, rows being
// last-writer-wins, can never overwrite a newer change):
//
//   - a writer records, before its first event and then every
//     HeartbeatInterval, a heartbeat and a safe point: the time before
//     which all its writes are complete. A row write that fails after its
//     event is retried in the background, and the safe point stays before
//     it. A writer that stops cleanly records closed;
//   - when a peer restarts, it rolls forward its own events since its
//     safe point before it reports ready; when a writer's heartbeat is
//     older than WriterTimeout and it did not close, the live peer with
//     the smallest ID rolls its events forward and marks it done;
//   - readers of the feed apply the change an event carries (they never
//     re-read the row of a fresh event), so they do not depend on the row
//     at all; an event they cannot compare with what they applied (too
//     old, or without payload) is settled against the row, which is rolled
//     forward first when it is older than the event.
//
// An error from Add or Rm means that the outcome is unknown, as with any
// database: the change may or may not have happened; if its event was
// written, it happened and its row is completed.
//
// The tests kill a writer process between the two steps
// (consensus/scylla crash_test.go) and check that readers apply its
// changes and that both completions restore the rows.
//
// # Reads
//
// Get and Has read one row; concurrent calls are read together with one
// query. List streams the table with parallel token-range scans, paged,
// never counting and never holding the table in memory; ListSlice reads one
// slice of the token ring. The feed is read per partition (ReadPartition)
// or over a time range (Events).
//
// Nothing in this package deletes the keyspace or empties the table: that
// is left to an explicit, confirmed command.
package scyllastate
