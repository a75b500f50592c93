package scyllastate

import (
	"cmp"
	"time"

	"github.com/gocql/gocql"
)

// EventID identifies an event of the change feed and orders the events of
// one partition: IDs compare by time first (the time the writer issued
// the change, by its own clock), then by their remaining bits, as the
// database orders them. It is also a reader's cursor: MinEventID and
// MaxEventID bound the events of a time. The zero EventID is before every
// event. EventIDs are comparable with ==.
type EventID struct {
	u gocql.UUID // a time UUID (CQL timeuuid)
}

// NewEventID returns a new, unique event ID of time t.
func NewEventID(t time.Time) EventID { return EventID{gocql.UUIDFromTime(t)} }

// MinEventID returns the smallest ID of time t: reading after it reads
// every event of time t and later.
func MinEventID(t time.Time) EventID { return EventID{gocql.MinTimeUUID(t)} }

// MaxEventID returns the largest ID of time t: reading up to it reads
// every event of time t and before.
func MaxEventID(t time.Time) EventID { return EventID{gocql.MaxTimeUUID(t)} }

// Time is the time of the ID (100ns precision, UTC); the zero time for
// the zero EventID.
func (id EventID) Time() time.Time { return id.u.Time() }

// IsZero tells whether id is the zero EventID.
func (id EventID) IsZero() bool { return id == (EventID{}) }

// Compare returns -1, 0 or +1 as id is before, equal to or after o in the
// order of the feed: Cassandra's and ScyllaDB's timeuuid order, the time,
// then the last 8 bytes compared as signed bytes (MinEventID's 0x80 and
// MaxEventID's 0x7f bound every ID of their time).
func (id EventID) Compare(o EventID) int {
	if c := id.Time().Compare(o.Time()); c != 0 || id == o {
		return c
	}
	for i := 8; i < len(id.u); i++ {
		if a, b := int8(id.u[i]), int8(o.u[i]); a != b {
			return cmp.Compare(a, b)
		}
	}
	return 0
}

// Before tells whether id is before o in the order of the feed.
func (id EventID) Before(o EventID) bool { return id.Compare(o) < 0 }

// String is the ID's UUID text, as cqlsh prints it.
func (id EventID) String() string { return id.u.String() }
