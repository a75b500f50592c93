package scyllastate

import "time"

// The names of the keyspace's tables, and the limits of CQL and of the
// partitions that the statements keep to.

const (
	pinsTable          = "pins"
	schemaVersionTable = "schema_version" // read by builds of versions 1 to 3
	schemaHistoryTable = "schema_history"
	layoutTable        = "feed_layout"
	activityTable      = "feed_activity"
	eventsTable        = "pin_events"
	checkpointsTable   = "peer_checkpoints" // feed_members of versions 1 to 3
	membersTable       = "feed_members"
	expiryTable        = "pin_expiry"
	trackerErrorsTable = "tracker_errors"
	schemaComponent    = "scyllastate"
)

const (
	// maxTTL is the largest TTL CQL accepts (20 years).
	maxTTL = 630720000 * time.Second
	// expiryBucket is the width of one pin_expiry partition.
	expiryBucket = time.Hour
)

// expiryBucketOf is the pin_expiry partition of an expiry time
// (nanoseconds).
func expiryBucketOf(ns int64) int64 { return ns / int64(expiryBucket) }
