package scyllastate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// ErrCorrupt is wrapped by errors about a stored value that cannot be
// decoded.
var ErrCorrupt = errors.New("corrupt stored value")

// pinRow is one row of the pins table: the CID, the pin protobuf
// (api.Pin.ProtoMarshal(), byte for byte dsstate's value) and meta, the
// fields the protobuf drops or rounds (see encodeMeta).
type pinRow struct {
	cid  []byte
	pin  []byte
	meta []byte

	// Schema v1 columns, read for rows written before meta existed.
	legacyMode       *int8
	legacyUserAllocs [][]byte
	legacyTsNs       *int64
	legacyExpireAtNs *int64

	// What a reader orders its next change after (versionColumns): the
	// write timestamp of pin and that of the last unpin still
	// remembered, in microseconds; 0 when null.
	writeTime, unpinnedAt int64
}

// present tells whether the row holds a pin: a row whose pin was unpinned
// keeps only the unpin's marker (unpinned_at) for event_retention.
func (r *pinRow) present() bool { return r.pin != nil }

// observed is the newest write timestamp the row shows: that of its pin,
// or of the unpin that deleted it.
func (r *pinRow) observed() int64 { return max(r.writeTime, r.unpinnedAt) }

// meta is what a pin row keeps besides the protobuf.
type meta struct {
	mode       int8
	tsNs       int64 // 0: use the protobuf's seconds
	expireAtNs int64 // 0: use the protobuf's seconds
	userAllocs [][]byte
}

const (
	metaVersion   = 1
	changeVersion = 1
	// maxAllocs bounds the user allocations a stored value may claim,
	// so that a corrupt length cannot make the decoder allocate much.
	maxAllocs = 4096
)

// encodePin builds the row of a pin.
func encodePin(p api.Pin) (pinRow, error) {
	if !p.Cid.Defined() {
		return pinRow{}, ErrUndefinedCid
	}
	pb, err := p.ProtoMarshal()
	if err != nil {
		return pinRow{}, fmt.Errorf("serializing pin %s: %w", p.Cid, err)
	}
	m := meta{mode: int8(p.Mode), tsNs: unixNano(p.Timestamp), expireAtNs: unixNano(p.ExpireAt)}
	for _, pid := range p.UserAllocations {
		m.userAllocs = append(m.userAllocs, []byte(pid))
	}
	return pinRow{cid: p.Cid.Bytes(), pin: pb, meta: m.encode()}, nil
}

// decode rebuilds the pin of a row.
func (row *pinRow) decode() (api.Pin, error) {
	c, err := api.CastCid(row.cid)
	if err != nil {
		return api.Pin{}, fmt.Errorf("%w: bad cid in pins table: %w", ErrCorrupt, err)
	}
	var p api.Pin
	if err := p.ProtoUnmarshal(row.pin); err != nil {
		return api.Pin{}, fmt.Errorf("%w: deserializing pin %s: %w", ErrCorrupt, c, err)
	}
	p.Cid = c
	m, err := row.metaFields()
	if err != nil {
		return api.Pin{}, fmt.Errorf("pin %s: %w", c, err)
	}
	// Mode is what ProtoUnmarshal derives from MaxDepth, as upstream's
	// dsstate does (IPFS pins by depth); the stored mode is informational.
	if len(m.userAllocs) > 0 {
		p.UserAllocations = make([]peer.ID, len(m.userAllocs))
		for i, b := range m.userAllocs {
			p.UserAllocations[i] = peer.ID(b)
		}
	}
	if m.tsNs != 0 {
		p.Timestamp = time.Unix(0, m.tsNs)
	}
	if m.expireAtNs != 0 {
		p.ExpireAt = time.Unix(0, m.expireAtNs)
	}
	return p, nil
}

// metaFields returns the meta of a row: the meta column, or for rows
// written by schema v1 its separate columns.
func (row *pinRow) metaFields() (meta, error) {
	if row.meta != nil {
		return decodeMeta(row.meta)
	}
	m := meta{userAllocs: row.legacyUserAllocs}
	if row.legacyMode != nil {
		m.mode = *row.legacyMode
	}
	if row.legacyTsNs != nil {
		m.tsNs = *row.legacyTsNs
	}
	if row.legacyExpireAtNs != nil {
		m.expireAtNs = *row.legacyExpireAtNs
	}
	return m, nil
}

func (m meta) encode() []byte {
	size := 1 + 1 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen64
	for _, a := range m.userAllocs {
		size += binary.MaxVarintLen64 + len(a)
	}
	b := make([]byte, 0, size)
	b = append(b, metaVersion, byte(m.mode))
	b = binary.AppendVarint(b, m.tsNs)
	b = binary.AppendVarint(b, m.expireAtNs)
	b = binary.AppendUvarint(b, uint64(len(m.userAllocs)))
	for _, a := range m.userAllocs {
		b = appendBytes(b, a)
	}
	return b
}

func decodeMeta(b []byte) (meta, error) {
	d := decoder{b: b}
	if v := d.byte(); v != metaVersion {
		if d.err != nil {
			return meta{}, fmt.Errorf("%w: empty pin meta", ErrCorrupt)
		}
		return meta{}, fmt.Errorf("%w: pin meta version %d, this build reads %d", ErrCorrupt, v, metaVersion)
	}
	m := meta{mode: int8(d.byte()), tsNs: d.varint(), expireAtNs: d.varint()}
	n := d.uvarint()
	if n > maxAllocs {
		return meta{}, fmt.Errorf("%w: pin meta claims %d user allocations", ErrCorrupt, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.userAllocs = append(m.userAllocs, d.bytes())
	}
	if err := d.finish("pin meta"); err != nil {
		return meta{}, err
	}
	return m, nil
}

// change is what an event of the feed says: the operation, its write
// timestamp (microseconds, the CQL write time of the pin row, which
// decides last-writer-wins), the writer that made it and, for a pin, the
// row's meta. The pin protobuf travels in its own column.
type change struct {
	op     Op
	ts     int64 // microseconds since the epoch
	writer string
	meta   []byte
}

func (c change) encode() []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+2*binary.MaxVarintLen64+len(c.writer)+len(c.meta))
	b = append(b, changeVersion, byte(c.op))
	b = binary.AppendVarint(b, c.ts)
	b = appendBytes(b, []byte(c.writer))
	b = appendBytes(b, c.meta)
	return b
}

func decodeChange(b []byte) (change, error) {
	d := decoder{b: b}
	if v := d.byte(); v != changeVersion {
		if d.err != nil {
			return change{}, fmt.Errorf("%w: empty change", ErrCorrupt)
		}
		return change{}, fmt.Errorf("%w: change version %d, this build reads %d", ErrCorrupt, v, changeVersion)
	}
	c := change{op: Op(d.byte()), ts: d.varint(), writer: string(d.bytes()), meta: d.bytes()}
	if err := d.finish("change"); err != nil {
		return change{}, err
	}
	if c.op != OpPin && c.op != OpUnpin {
		return change{}, fmt.Errorf("%w: change has unknown operation %d", ErrCorrupt, c.op)
	}
	if len(c.meta) == 0 {
		c.meta = nil
	}
	return c, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decoder reads the compact encodings above; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated value", ErrCorrupt)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) finish(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %s has %d trailing bytes", ErrCorrupt, what, len(d.b))
	}
	return nil
}

// The times that int64 nanoseconds since the epoch can hold.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// unixNano returns t in nanoseconds, or 0 when t is zero or outside the
// range of int64 nanoseconds (years 1677-2262), where the protobuf's
// seconds are kept instead.
func unixNano(t time.Time) int64 {
	if t.IsZero() || t.Before(minNano) || t.After(maxNano) {
		return 0
	}
	return t.UnixNano()
}

// rowFromProto builds a row from a dsstate value (key CID plus protobuf),
// as found in a Marshal stream.
func rowFromProto(c api.Cid, pb []byte) (pinRow, error) {
	var p api.Pin
	if err := p.ProtoUnmarshal(pb); err != nil {
		return pinRow{}, fmt.Errorf("%w: deserializing pin %s: %w", ErrCorrupt, c, err)
	}
	p.Cid = c
	row, err := encodePin(p)
	if err != nil {
		return pinRow{}, err
	}
	row.pin = pb // keep the original bytes exactly
	return row, nil
}
