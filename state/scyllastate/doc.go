// Package scyllastate implements upstream IPFS Cluster's state.State and
// state.BatchingState on ScyllaDB or Apache Cassandra (plain CQL), so that
// the shared pinset lives once, in the database, instead of in every peer.
//
// Layout. One keyspace (Config.Keyspace) holds:
//
//	pins(cid blob PRIMARY KEY, pin blob, mode tinyint,
//	     user_allocations list<blob>, ts_ns bigint, expire_at_ns bigint)
//	schema_version(component text PRIMARY KEY, version int, created_at timestamp)
//	pin_events((bucket bigint, shard tinyint), event_id timeuuid, cid blob, op tinyint)
//	peer_checkpoints(reader text PRIMARY KEY, position timestamp, updated_at timestamp)
//
// pin_events is the change feed (see feed.go); its rows expire after
// Config.EventRetention.
//
// The pin column is api.Pin.ProtoMarshal(), byte for byte the value that
// upstream's dsstate stores, which keeps Marshal/Unmarshal compatible with
// dsstate. The other columns keep what the protobuf drops (the user
// allocations and timestamps below one second), so that a pin read back
// equals the pin written. The mode column records the mode written; on
// read the mode follows MaxDepth, as with dsstate.
//
// Writes are last-writer-wins per CID, with client-side timestamps, at
// Config.Consistency. List streams the table with parallel token-range
// scans, paged, never counting and never holding the table in memory.
//
// Nothing in this package deletes the keyspace or empties the table: that
// is left to an explicit, confirmed command.
package scyllastate
