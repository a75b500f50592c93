package scyllastate

// statements are the CQL statements of one keyspace. The keyspace is
// validated (ValidateIdentifier) before it is spliced in.
type statements struct {
	insertPin, deletePin, markUnpin, getPins, getPinVerify, has, scan string

	insertEvent, events string

	insertExpiry, expiryDue, deleteExpiry string

	getCheckpoint, saveCheckpoint, heartbeat, writers string
}

// pinColumns are read for every pin: meta, and the columns of schema v1
// that rows written before meta existed still hold.
const pinColumns = "cid, pin, meta, mode, user_allocations, ts_ns, expire_at_ns"

// versionColumns follow pinColumns where a reader needs to order its next
// change after what it read: the write timestamp of the pin and the
// timestamp of the last unpin still remembered (see scanVersion).
const versionColumns = ", writetime(pin), unpinned_at"

func newStatements(ks string) statements {
	pins := ks + "." + pinsTable
	events := ks + "." + eventsTable
	expiry := ks + "." + expiryTable
	ckpt := ks + "." + checkpointsTable
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

		insertExpiry: "INSERT INTO " + expiry + " (bucket, expire_at_ns, cid) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?",
		expiryDue:    "SELECT expire_at_ns, cid FROM " + expiry + " WHERE bucket = ? AND expire_at_ns <= ?",
		deleteExpiry: "DELETE FROM " + expiry + " WHERE bucket = ? AND expire_at_ns = ? AND cid = ?",

		getCheckpoint:  "SELECT position FROM " + ckpt + " WHERE reader = ?",
		saveCheckpoint: "UPDATE " + ckpt + " SET position = ?, updated_at = toTimestamp(now()) WHERE reader = ?",
		heartbeat: "UPDATE " + ckpt + " USING TTL ? SET heartbeat = ?, safe_before = ?, closed = ?, data_center = ?" +
			" WHERE reader = ?",
		writers: "SELECT reader, position, heartbeat, safe_before, closed, data_center FROM " + ckpt,
	}
}
