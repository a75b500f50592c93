package scyllastate

import (
	"strconv"
	"time"
)

// statements are the CQL statements of one keyspace. The keyspace is
// validated (ValidateIdentifier) before it is spliced in.
type statements struct {
	insertPin, deletePin, markUnpin, getPins, getPinVerify, has, scan string

	insertEvent, events, eventsIn, newestEvent string

	markActive, active string

	layout, insertLayout, version, legacyVersion string

	insertExpiry, expiryDue, deleteExpiry string

	getCheckpoint, saveCheckpoint, heartbeat, writers, markDone string

	anyMember, legacyMembers, copyMember string
}

// pinColumns are read for every pin: meta, and the columns of schema v1
// that rows written before meta existed still hold.
const pinColumns = "cid, pin, meta, mode, user_allocations, ts_ns, expire_at_ns"

// versionColumns follow pinColumns where a reader needs to order its next
// change after what it read: the write timestamp of the pin and the
// timestamp of the last unpin still remembered (see scanVersion).
const versionColumns = ", writetime(pin), unpinned_at"

// newStatements builds the statements of keyspace ks for a server kind:
// on ScyllaDB every read carries USING TIMEOUT (the server gives up when
// the driver does, instead of finishing work nobody waits for), and the
// full scans BYPASS CACHE (they do not evict the hot pinset from the row
// cache). Cassandra has neither: the driver's timeout and the server's
// read_request_timeout/range_request_timeout play the first part.
// Statements in batches (the writes of pins and events) take no USING
// TIMEOUT: ScyllaDB refuses it inside a batch.
func newStatements(ks string, kind ServerKind, timeout time.Duration) statements {
	st := baseStatements(ks)
	if kind != Scylla {
		return st
	}
	using := " USING TIMEOUT " + strconv.FormatInt(max(timeout.Milliseconds(), 1), 10) + "ms"
	for _, q := range []*string{&st.getPins, &st.getPinVerify, &st.has, &st.events, &st.eventsIn, &st.newestEvent, &st.active, &st.layout,
		&st.version, &st.legacyVersion, &st.expiryDue, &st.getCheckpoint, &st.writers, &st.anyMember, &st.legacyMembers} {
		*q += using
	}
	st.scan += " BYPASS CACHE" + using
	return st
}

func baseStatements(ks string) statements {
	pins := ks + "." + pinsTable
	events := ks + "." + eventsTable
	expiry := ks + "." + expiryTable
	members := ks + "." + membersTable
	layout := ks + "." + layoutTable
	activity := ks + "." + activityTable
	return statements{
		insertPin: "INSERT INTO " + pins + " (cid, pin, meta) VALUES (?, ?, ?) USING TIMESTAMP ?",
		deletePin: "DELETE FROM " + pins + " USING TIMESTAMP ? WHERE cid = ?",
		markUnpin: "UPDATE " + pins + " USING TTL ? AND TIMESTAMP ? SET pin = null, meta = null, mode = null, user_allocations = null," +
			" ts_ns = null, expire_at_ns = null, unpinned_at = ? WHERE cid = ?",
		getPins:      "SELECT " + pinColumns + versionColumns + " FROM " + pins + " WHERE cid IN ?",
		getPinVerify: "SELECT " + pinColumns + versionColumns + " FROM " + pins + " WHERE cid = ?",
		has:          "SELECT cid FROM " + pins + " WHERE cid = ?",
		scan:         "SELECT " + pinColumns + versionColumns + " FROM " + pins + " WHERE token(cid) >= ? AND token(cid) <= ?",

		insertEvent: "INSERT INTO " + events + " (bucket, shard, event_id, cid, pin, change) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?",
		events: "SELECT event_id, cid, op, pin, change FROM " + events +
			" WHERE bucket = ? AND shard = ? AND event_id > ? AND event_id <= ?",
		newestEvent: "SELECT event_id, cid, op, pin, change FROM " + events +
			" WHERE bucket = ? AND shard = ? ORDER BY event_id DESC LIMIT 1",
		eventsIn: "SELECT shard, event_id, cid, op, pin, change FROM " + events +
			" WHERE bucket = ? AND shard IN ? AND event_id > ? AND event_id <= ?",

		markActive: "INSERT INTO " + activity + " (bucket, shard) VALUES (?, ?)",
		active:     "SELECT shard FROM " + activity + " WHERE bucket = ?",

		layout:        "SELECT from_bucket, partitions FROM " + layout + " WHERE component = ?",
		insertLayout:  "INSERT INTO " + layout + " (component, from_bucket, partitions) VALUES (?, ?, ?)",
		version:       "SELECT version, min_compatible FROM " + ks + "." + schemaHistoryTable + " WHERE component = ? LIMIT 1",
		legacyVersion: "SELECT * FROM " + ks + "." + schemaVersionTable + " WHERE component = ?",

		insertExpiry: "INSERT INTO " + expiry + " (bucket, expire_at_ns, cid) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?",
		expiryDue:    "SELECT expire_at_ns, cid FROM " + expiry + " WHERE bucket = ? AND expire_at_ns <= ?",
		deleteExpiry: "DELETE FROM " + expiry + " WHERE bucket = ? AND expire_at_ns = ? AND cid = ?",

		getCheckpoint:  "SELECT position FROM " + members + " WHERE component = ? AND member = ?",
		saveCheckpoint: "UPDATE " + members + " SET position = ?, updated_at = toTimestamp(now()) WHERE component = ? AND member = ?",
		heartbeat: "UPDATE " + members + " USING TTL ? SET heartbeat = ?, safe_before = ?, closed = ?, data_center = ?" +
			" WHERE component = ? AND member = ?",
		writers:  "SELECT member, position, heartbeat, safe_before, closed, data_center FROM " + members + " WHERE component = ?",
		markDone: "UPDATE " + members + " USING TTL ? SET safe_before = ?, closed = true WHERE component = ? AND member = ?",

		anyMember:     "SELECT member FROM " + members + " WHERE component = ? LIMIT 1",
		legacyMembers: "SELECT reader, position, updated_at, heartbeat, safe_before, closed, data_center FROM " + ks + "." + checkpointsTable,
		copyMember: "INSERT INTO " + members + " (component, member, position, updated_at, heartbeat, safe_before, closed, data_center)" +
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
	}
}
