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
// once and hints the peers that must act on the change (at most one hint
// per 50ms): a pin with allocations wakes its allocated peers only, by a
// one-byte libp2p stream; a pin for every peer (replication -1) sends an
// empty pubsub message. The other peers see the change at their next poll.
//
// # The change feed
//
// Upstream's Cluster never calls the tracker itself: the consensus must
// tell every peer's tracker about every change. Each peer reads the feed:
//
//   - a fresh read, every poll_interval or at once on a hint from a
//     trusted peer, reads each partition of the current minute after the
//     last event it read there: only new events;
//   - a sweep, every feed_overlap (W), re-reads the feed from the feed
//     position to now-W: [now-2W, now-W] when it runs on time. An event
//     is visible at most W after its ID time: W must exceed the longest
//     write (timeout and retries, checked at start) plus the clock skew
//     between peers. So every event older than now-W is visible at now,
//     an event that lands behind the fresh read (a writer whose clock
//     lags, a slow write) is read by a sweep, and each event is re-read
//     by one sweep only, once settled; after a sweep every event older
//     than now-W is applied: that is the feed position, saved every
//     checkpoint_interval. The position moves only
//     after a sweep that worked, and the next sweep starts from it: reads
//     that fail for any time, or a sweep that runs late, skip no event
//     (a long span is read a few minutes at a time). A position older
//     than event_retention means events are gone: the sweep starts from
//     the oldest kept and a full repair of the pinset follows (see
//     below). Sweeps run in a loop of their own: a long one (a burst to
//     re-read, a slow database) holds up no fresh read;
//   - a first start just after a burst of changes larger than the peer
//     can hold (tracker queue and deferred set: an import of millions)
//     does not read it: the changes made before the start are left to
//     the first start's recover pass, which reads their rows once they
//     are written (2W after the start), so that new peers started
//     together do not each read the whole burst from the feed.
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
// Writers stamp changes with a hybrid logical clock, so a write timestamp
// may be ahead of its event's ID time: such events are trusted as others.
//
// Claims are forgotten after 4W. An event whose change is older than its
// ID by more than 2W (re-announced, or completed long after) may be older
// than a change whose claim is forgotten; such events, and events of a
// version 1 keyspace (no payload), are settled against the pin row: the
// row's value (its pin, or the unpin its marker remembers) when it is as
// new as the event, else the event's, after rolling the row forward to
// it. A settled read costs one row read; it
// only happens for such rare events.
//
// # Data centers
//
// With several data centers, set state.scyllastate.event_consistency to
// EACH_QUORUM: a change is then acknowledged only once the feed holds it
// in every data center, so no peer sees it later than feed_overlap (see
// docs/configuration.md for the trade-off).
//
// # Catch-up
//
// Every peer saves its feed position (checkpoint_interval and at
// shutdown). At start, before Ready, it completes its own writes left
// unfinished by a crash, then reads every event since that position a
// few minutes at a time: pins added while it was down get tracked and,
// unlike upstream's recover loop, pins removed meanwhile get untracked. A
// peer away for longer than event_retention reconciles in full before
// Ready: a repair of every slice of the pinset (see below; its progress
// is logged), whose pins the tracker cannot queue at once wait in the
// deferred set rather than hold Ready for hours. Removals older than
// event_retention have left no marker: a CID removed then stays pinned in
// that peer's IPFS (a warning says so). A peer with no checkpoint (first
// start) gets its pinset from a full, paced recover pass.
//
// # Completing dead writers
//
// A writer that died between the event and the row of a change (see
// scyllastate) is completed by the live peer with the smallest ID, or by
// itself when it restarts: each of its changes since its safe point is
// announced again (Feed.Reannounce): the row, with the change's own
// timestamp, then a new event with a fresh ID and the same change. Its own
// event may have become visible late, behind every reader's sweep; the
// fresh one is read by every reader, which settles it against the row
// when its timestamp is older than its ID by more than 2W.
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
//     each CID; an entry whose pin cannot be read or unpinned is kept
//     and tried again at the next check;
//   - every pin_recover_interval, the tracker's errors are recovered,
//     at the pace of pinning;
//   - the cluster's own recover at start is skipped (WrapTracker).
//
// # Tracker errors
//
// Upstream's tracker keeps each failed operation in memory until its CID
// gets another one. The wrapper (WrapTracker) stores them in
// tracker_errors (64 partitions per peer) and makes the tracker forget
// them: it tracks the CID as a pin allocated elsewhere and answers the
// unpin this makes with success, without IPFS. Status, StatusAll (status
// --filter error streams the peer's rows), Recover and RecoverAll read
// them back; a row leaves when an operation of its CID succeeds. A Bloom
// filter of the CIDs that may have a row (read from the table at start,
// no false negatives) spares the database a statement per pin: a success
// deletes a row only when one may exist, and a first failure is stored
// without reading the row it would replace. The store sends the writes
// of the sweep's workers together, in unlogged batches (about ten rows a
// request). They survive a restart.
// ipfs-cluster-ctl recover retries the stored errors; pins missing from
// IPFS without an error are the repair's. A status of every pin whose
// listing of the shared pinset fails (upstream's tracker only logs it)
// fails with that error rather than look like an empty pinset
// (listerrors.go).
//
// A cluster-wide status filtered on pin or unpin errors (ipfs-cluster-ctl
// status --filter error) is answered from these rows too, by the peer
// asked, for every peer of the peerset (WrapAPI): the REST API gets an
// RPC client of its own (internal/rpcproxy) whose Cluster.StatusAll on
// errors merges the peers' partitions, sorted by CID, and streams one
// line per CID. Upstream's Cluster.StatusAll would ask every peer and
// hold all their answers in one map before the first line (4.7 GB and
// 100 s for a million errors). What this answer leaves out: an error not
// stored yet (within a second of the failure), and the cluster_error
// lines upstream gives a peer that does not answer (its stored errors
// are listed instead); a pin being retried is still listed in error.
//
// # Repair (anti-entropy)
//
// Whatever the feed missed, every peer converges within repair_interval
// (default 15m): the pinset is cut into recover_slices slices of the
// token ring, and one slice is checked every
// repair_interval/recover_slices, so that each tick reads 1/recover_slices
// of the table (1% by default) and the whole ring is covered once per
// repair_interval. The repairs of all peers together read at most
// repair_read_rate pins per second (default 1000): each peer waits, after
// a slice, as long as its share of that rate (the rate divided by the
// trusted peers it knows) takes to read it. A cycle over a large pinset
// thus lasts pins × peers / rate rather than repair_interval, and the
// database's load from repairs does not grow with the number of peers
// (at 1000 pins/s, about 3% of one core of our 2-core Cassandra, which
// spends about 28 µs per pin read). The check reads the slice's pins and the markers that
// unpins leave for event_retention (ScanSlice) and asks this peer's IPFS
// (PinLsCid) about:
//
//   - each pin this peer should hold (allocated here, not a shard):
//     missing from IPFS, it is tracked;
//   - each marker: its CID still pinned in IPFS (an unpin the feed
//     missed), it is untracked.
//
// Each correction reads the pin row again just before it and goes
// through the applier's last-writer-wins check: a change the applier saw
// newer than the row is never undone, a pin unpinned meanwhile is not
// tracked, and the claim records what the tracker was told. A first start
// runs one paced pass over every slice instead (every pin allocated here
// is tracked, waiting while the tracker holds pin_queue_limit pins); a
// feed that lost events (see above) gets a full repair.
//
// # The deferred set
//
// A pin that finds the tracker queue at pin_queue_limit (from the feed,
// a repair or a full repair) is not queued: its CID waits in the deferred
// set, one entry per CID with the write timestamp of its change, until
// the queue has room; then the deferred pins are tracked newest first (as
// upstream's tracker queues recent pins first), before a paced pass
// queues more, each after reading its row again: a pin unpinned
// meanwhile is not tracked, a pin whose row does not show it yet waits.
// An entry leaves the set when its pin is tracked or a newer change of
// its CID reaches the tracker, so the set holds only the pins still to
// track. The periodic repair adds to it only while it holds fewer than
// pin_queue_limit pins (it finds the others at its next cycle).
//
// The set holds at most 4 × pin_queue_limit pins (at least 10,000). A
// pin that finds it full too is kept nowhere: the applier keeps its claim
// (so an older change read later is still ignored) and notes the
// overflow; once the rows of such pins are written (feed_overlap after
// the last one was seen, at most), a recover pass over every slice, paced
// like a first start's, tracks the pins allocated here that IPFS does not
// hold; it reads at most repair_read_rate pins a second (all of it, on
// every peer that overflowed: peers overflowing together read that many
// each). A burst of millions of pins (an import; a first start right after
// one) thus costs the peer the queue, the set and one pass, not a
// deferred entry per pin. A first start's pass waits the same way, so
// that one pass covers the burst it starts into.
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
// closed when they are done. Until then the tracker's calls that need
// the shared pinset (status, recover) fail at once with ErrNotReady, so
// that a cluster-wide status lists this peer in error rather than wait
// for it. The daemon sets upstream's ReadyTimeout to ready_timeout. Errors that retrying cannot fix (credentials refused, a
// TLS failure, a schema of another version, missing tables with
// schema_mode=check) are sent on Fatal at once. Shutdown stops every
// goroutine the component started, saves the feed position and closes the
// store, which finishes its writes in flight and records a clean stop.
package scylla
