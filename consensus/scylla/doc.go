// Package scylla is a cluster consensus component whose state is the
// shared pinset kept once in ScyllaDB or Cassandra (package scyllastate),
// instead of a private CRDT or Raft replica on every peer.
//
// # Writes
//
// LogPin and LogUnpin write the pin row at the configured consistency.
// The same logged batch appends an event (CID, pin or unpin, time UUID) to
// the pin_events table, with a TTL of state.scyllastate.event_retention.
// The batch carries one client timestamp fixed before the first attempt,
// so a retried write cannot overwrite a newer change of another peer
// (last writer wins per CID, as with upstream's crdt). The writing peer
// then calls its own PinTracker.Track or Untrack at once, and publishes an
// empty pubsub hint.
//
// # The change feed
//
// Upstream's Cluster never calls the tracker itself: the consensus must
// tell every peer's tracker about every change. Each peer tails
// pin_events. A poll runs every poll_interval, or at once on a hint from
// a trusted peer. It reads the events since the last poll, plus
// feed_overlap before it, to catch events whose writer's clock lags or
// whose write landed late; events already applied are skipped by ID.
//
// For each event the peer re-reads the pin row and calls Track with its
// current value, or Untrack when the row is gone. Delivery is therefore
// idempotent and the order of events does not matter: whatever the
// interleaving, the last event of a CID leads to a read of its final
// value. Events of one CID are applied by one worker in feed order;
// different CIDs are applied in parallel (catch_up_concurrency). A call
// identical to the last one made for that CID (same presence, same pin
// timestamp) is not repeated: the writer re-reads its own events, and
// upstream's operation tracker updates an in-flight operation without a
// lock when Track comes twice.
//
// # Catch-up
//
// Every peer saves its feed position (a checkpoint row keyed by its peer
// ID, every checkpoint_interval and at shutdown). At start, before Ready,
// it applies every event since that position: pins added while it was
// down get tracked and, unlike upstream's recover loop, pins removed
// meanwhile get untracked. A peer away for longer than event_retention
// is warned that removals older than that are lost to it. A peer with no
// checkpoint (first start) relies on the recover run at start for its
// allocated pins.
//
// # Peers, trust and leaving
//
// The peerset is the set of peers sending ping metrics, plus this peer,
// as with crdt; there is no stored membership, so AddPeer is a no-op and
// RmPeer an error. Trust follows crdt: trusted_peers, "*" for all.
//
// Clean, which the cluster calls after a peer leaves or is removed, never
// touches the shared pinset: wiping it takes the explicit, confirmed
// `ipfs-cluster-service state cleanup`.
//
// # Start
//
// New returns at once. Connecting (retried with a log line while the
// database is unreachable), the schema check and the catch-up run in the
// background; Ready is closed when they are done. The daemon sets
// upstream's ReadyTimeout to ready_timeout. Errors that retrying cannot
// fix (a schema of another version, a table missing with
// schema_mode=check) are sent on Fatal. Shutdown stops every goroutine the
// component started, saves the feed position and closes the session.
package scylla
