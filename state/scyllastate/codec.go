package scyllastate

import (
	"fmt"
	"math"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// pinRow is one row of the pins table.
type pinRow struct {
	cid        []byte
	pin        []byte // api.Pin.ProtoMarshal(): dsstate's value format
	mode       int8
	userAllocs [][]byte
	tsNs       int64 // 0: use the protobuf's seconds
	expireAtNs int64 // 0: use the protobuf's seconds
}

// encodePin builds the row of a pin.
func encodePin(p api.Pin) (pinRow, error) {
	if !p.Cid.Defined() {
		return pinRow{}, ErrUndefinedCid
	}
	pb, err := p.ProtoMarshal()
	if err != nil {
		return pinRow{}, fmt.Errorf("serializing pin %s: %w", p.Cid, err)
	}
	row := pinRow{
		cid:        p.Cid.Bytes(),
		pin:        pb,
		mode:       int8(p.Mode),
		tsNs:       unixNano(p.Timestamp),
		expireAtNs: unixNano(p.ExpireAt),
	}
	for _, pid := range p.UserAllocations {
		row.userAllocs = append(row.userAllocs, []byte(pid))
	}
	return row, nil
}

// decode rebuilds the pin of a row.
func (row *pinRow) decode() (api.Pin, error) {
	c, err := api.CastCid(row.cid)
	if err != nil {
		return api.Pin{}, fmt.Errorf("bad cid in pins table: %w", err)
	}
	var p api.Pin
	if err := p.ProtoUnmarshal(row.pin); err != nil {
		return api.Pin{}, fmt.Errorf("deserializing pin %s: %w", c, err)
	}
	p.Cid = c
	// Mode is what ProtoUnmarshal derives from MaxDepth, as upstream's
	// dsstate (IPFS pins by depth); the mode column is informational.
	if len(row.userAllocs) > 0 {
		p.UserAllocations = make([]peer.ID, len(row.userAllocs))
		for i, b := range row.userAllocs {
			p.UserAllocations[i] = peer.ID(b)
		}
	}
	if row.tsNs != 0 {
		p.Timestamp = time.Unix(0, row.tsNs)
	}
	if row.expireAtNs != 0 {
		p.ExpireAt = time.Unix(0, row.expireAtNs)
	}
	return p, nil
}

// unixNano returns t in nanoseconds, or 0 when t is zero or outside the
// range of int64 nanoseconds (years 1678-2262), where the protobuf's
// seconds are kept instead.
func unixNano(t time.Time) int64 {
	if t.IsZero() || t.Unix() <= math.MinInt64/int64(time.Second) || t.Unix() >= math.MaxInt64/int64(time.Second) {
		return 0
	}
	return t.UnixNano()
}

// rowFromProto builds a row from a dsstate value (key CID plus protobuf),
// as found in a Marshal stream.
func rowFromProto(c api.Cid, pb []byte) (pinRow, error) {
	var p api.Pin
	if err := p.ProtoUnmarshal(pb); err != nil {
		return pinRow{}, fmt.Errorf("deserializing pin %s: %w", c, err)
	}
	p.Cid = c
	row, err := encodePin(p)
	if err != nil {
		return pinRow{}, err
	}
	row.pin = pb // keep the original bytes exactly
	return row, nil
}
