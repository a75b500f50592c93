// Package scylla is a cluster consensus component whose state is the
// shared pinset kept once in ScyllaDB or Cassandra (package scyllastate),
// instead of a private CRDT or Raft replica on every peer.
//
// # Writes
//
// LogPin and LogUnpin write the change to the shared state: its event in
// the change feed first, carrying the whole change (operation, write
// timestamp, writer, the pin), then its pin row (see scyllastate for why
// no crash between the two loses or corrupts a change). Concurrent calls
// are written together. The writing peer then tells its own PinTracker at
// once and publishes an empty pubsub hint (at most one per 50ms).
//
// # The change feed
//
// Upstream's Cluster never calls the tracker itself: the consensus must
// tell every peer's tracker about every change. Each peer reads the feed:
//
//   - a fresh read, every poll_interval or at once on a hint from a
//     trusted peer, reads each partition of the current minute after the
//     last event it read there: only new events;
//   - a sweep, every feed_overlap (W), re-reads the last 2W. An event is
//     visible at most W after its ID time: W must exceed the longest
//     write (timeout and retries, checked at start) plus the clock skew
//     between peers. So an event that lands behind the fresh read (a
//     writer whose clock lags, a slow write) is read by a sweep, and after
//     a sweep every event older than now-W is applied: that is the feed
//     position, saved every checkpoint_interval.
//
// A peer applies the change an event carries; it never re-reads the pin
// row, so an event visible before its row (another data center, a replica
// behind) is applied with its own value, and reads of the database do not
// grow with the number of peers. Changes are applied in last-writer-wins
// order: a change reaches the tracker only if its write timestamp is newer
// than the last change applied for that CID (a claim). The check, the
// claim and the tracker call happen under one lock per CID, so the
// writer's own call and its event read back, or two changes of one CID,
// never interleave: each CID gets one Track per change, in order.
//
// Claims are forgotten after 4W. An event whose change is older than its
// ID by more than 2W (re-announced, or completed long after) may be older
// than a change whose claim is forgotten; such events, and events of a
// version 1 keyspace (no payload), are settled against the pin row: the
// row's value when it is as new as the event, else the event's, after
// rolling the row forward to it. A settled read costs one row read; it
// only happens for such rare events.
//
// # Data centers
//
// With several data centers, set state.scyllastate.event_consistency to
// EACH_QUORUM: a change is then acknowledged only once the feed holds it
// in every data center, so no peer sees it later than feed_overlap (see
// the README for the trade-off).
//
// # Catch-up
//
// Every peer saves its feed position (checkpoint_interval and at
// shutdown). At start, before Ready, it completes its own writes left
// unfinished by a crash, then reads every event since that position a
// minute at a time: pins added while it was down get tracked and, unlike
// upstream's recover loop, pins removed meanwhile get untracked. A peer
// away for longer than event_retention is warned that removals older than
// that are lost to it. A peer with no checkpoint (first start) gets its
// pinset from a full recover pass.
//
// # A cost that does not grow with the pinset
//
// Upstream's cluster lists the whole pinset every state_sync_interval
// (expired pins) and every pin_recover_interval (RecoverAll), and queues
// every missing pin at once. With a shared pinset of millions of pins and
// many peers that would keep the database busy scanning and fill the
// peers' memory. The daemon disables those two loops and this component
// replaces them (upkeep.go):
//
//   - expired pins are read from an expiry index, every
//     state_sync_interval, and unpinned by the trusted peer closest to
//     each CID;
//   - every pin_recover_interval, the tracker's errors are recovered (from
//     its memory) and one slice (1/recover_slices) of the pinset is
//     checked against IPFS;
//   - a first start, or pins the feed left because the tracker queue was
//     full (pin_queue_limit), get a full pass over the pinset. Every pass
//     queues pins at the pace of pinning: it waits while the tracker
//     holds pin_queue_limit pins. The cluster's own recover at start is
//     skipped (WrapTracker); ipfs-cluster-ctl recover works as upstream.
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
// database is unreachable), the schema check or upgrade, the completion of
// unfinished writes and the catch-up run in the background; Ready is
// closed when they are done. The daemon sets upstream's ReadyTimeout to
// ready_timeout. Errors that retrying cannot fix (credentials refused, a
// TLS failure, a schema of another version, missing tables with
// schema_mode=check) are sent on Fatal at once. Shutdown stops every
// goroutine the component started, saves the feed position and closes the
// store, which finishes its writes in flight and records a clean stop.
package scylla
