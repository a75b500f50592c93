package scyllastate

import (
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// The change feed, read side. Every change has one row in pin_events,
// partitioned by (bucket, shard): bucket is the minute of the event ID,
// shard a hash of the CID (so the changes of one CID are in one partition
// per minute, in event ID order). Rows expire after EventRetention.

// eventBucket is the width of one feed partition in time.
const eventBucket = time.Minute

// bucketOf is the feed bucket of a time.
func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(eventBucket) }

// Event is one entry of the change feed.
type Event struct {
	// ID is unique per event; its time is when the writer issued the
	// write.
	ID EventID
	// Cid is the CID that changed.
	Cid api.Cid
	// Op tells whether the CID was pinned (or updated) or unpinned.
	Op Op
	// WriteTime is the write timestamp of the change in microseconds:
	// the pin row holds the change with the highest one (last writer
	// wins). Zero for Legacy events.
	WriteTime int64
	// Writer names the store that wrote the change.
	Writer string
	// Pin is the pin of an OpPin event; nil for unpins and Legacy events.
	Pin *api.Pin
	// Legacy events carry no change (schema version 1, or a payload this
	// build cannot read): a reader must read the pin row instead.
	Legacy bool
}

// Time is when the writer issued the change, by its own clock.
func (e Event) Time() time.Time { return e.ID.Time() }

// Partition is one partition of the change feed.
type Partition struct {
	Bucket int64
	Shard  int8
}

// BucketStart is the time at which a bucket begins.
func BucketStart(bucket int64) time.Time { return time.Unix(0, bucket*int64(eventBucket)) }

// BucketWidth is the time span of one bucket of the feed.
const BucketWidth = eventBucket

// decodeEvent builds an event from its row. Rows that cannot be read
// at all are skipped with a warning; a change that cannot be decoded
// makes a Legacy event, so that the reader falls back to the pin row.
func decodeEvent(id gocql.UUID, cid []byte, op *int8, pin, changeBytes []byte) (Event, bool) {
	c, err := api.CastCid(cid)
	if err != nil {
		logger.Warnf("skipping feed event %s: bad CID %x: %s", id, cid, err)
		return Event{}, false
	}
	e := Event{ID: EventID{id}, Cid: c}
	if changeBytes == nil {
		if op == nil || (Op(*op) != OpPin && Op(*op) != OpUnpin) {
			logger.Warnf("skipping feed event %s of %s: no operation", id, c)
			return Event{}, false
		}
		e.Op, e.Legacy = Op(*op), true
		return e, true
	}
	ch, err := decodeChange(changeBytes)
	if err == nil && ch.op == OpPin {
		row := pinRow{cid: cid, pin: pin, meta: ch.meta}
		var p api.Pin
		if p, err = row.decode(); err == nil {
			e.Pin = &p
		}
	}
	if err != nil {
		logger.Warnf("feed event %s of %s cannot be read (%s): the pin row is read instead", id, c, err)
		e.Op, e.Legacy = OpPin, true
		if op != nil {
			e.Op = Op(*op)
		}
		return e, true
	}
	e.Op, e.WriteTime, e.Writer = ch.op, ch.ts, ch.writer
	return e, true
}
