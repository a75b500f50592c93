package scyllastate

import (
	"fmt"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// pendingWrite is one change on its way to the database.
type pendingWrite struct {
	cid []byte
	op  Op
	row pinRow // the pin and its meta, for OpPin

	// writer names who made the change; empty means this store.
	writer string

	// Set when the write is issued.
	ts      int64 // write timestamp, microseconds (hybrid logical clock)
	idTime  int64 // the event ID's time, microseconds (physical clock)
	eventID gocql.UUID
	// sent is set once the event was sent: from then on a failure leaves
	// its outcome unknown.
	sent bool
	// eventDone is set once the event is acknowledged.
	eventDone bool
	// late is set when the event may have become visible after the
	// readers' sweeps passed its ID (see writer.isLate): a fresh event
	// announces the change again.
	late bool
	// stage is what is left to do of a change in the writer's backlog.
	stage stage
	err   error
}

// pinWrite and unpinWrite are new changes of this store.
func pinWrite(row pinRow) *pendingWrite { return &pendingWrite{cid: row.cid, op: OpPin, row: row} }
func unpinWrite(cid []byte) *pendingWrite {
	return &pendingWrite{cid: cid, op: OpUnpin}
}

// expireAtNs returns the expiry of a pin write, 0 for none.
func (w *pendingWrite) expireAtNs() int64 {
	if w.op != OpPin {
		return 0
	}
	m, err := decodeMeta(w.row.meta)
	if err != nil {
		return 0
	}
	if m.expireAtNs != 0 {
		return m.expireAtNs
	}
	var p api.Pin
	if err := p.ProtoUnmarshal(w.row.pin); err == nil && !p.ExpireAt.IsZero() {
		return unixNano(p.ExpireAt)
	}
	return 0
}

// stage is what is left to do of a change in a writer's backlog.
type stage int8

const (
	// needEvent: the event was sent and not acknowledged (outcome
	// unknown): it is written again, same ID and timestamp, until it is.
	needEvent stage = iota
	// needRow: the event is written, the row is not.
	needRow
	// needNotice: the event may have become visible after the readers'
	// sweeps passed it: a fresh event announces the change again.
	needNotice
	// finished: nothing is left to do.
	finished
)

// writeOf rebuilds the write of an event's change, with its timestamp and
// writer.
func writeOf(e Event) (*pendingWrite, error) {
	if e.Legacy || e.WriteTime == 0 {
		return nil, fmt.Errorf("event %s of %s carries no change", e.ID, e.Cid)
	}
	w := &pendingWrite{cid: e.Cid.Bytes(), op: e.Op, ts: e.WriteTime, writer: e.Writer}
	if e.Op == OpPin {
		if e.Pin == nil {
			return nil, fmt.Errorf("pin event %s of %s carries no pin", e.ID, e.Cid)
		}
		row, err := encodePin(*e.Pin)
		if err != nil {
			return nil, err
		}
		w.row = row
	}
	return w, nil
}
