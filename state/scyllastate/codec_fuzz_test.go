package scyllastate

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	cid "github.com/ipfs/go-cid"
	peer "github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// The decoders of this file read values stored in the database (pin rows,
// their meta, the changes of the feed). The fuzz targets check that no
// value, however corrupt, makes them panic or allocate much, that every
// refusal wraps ErrCorrupt, and that what the encoders write decodes to
// what was encoded. `go test` runs the seeds (f.Add and testdata/fuzz);
// `go test -fuzz FuzzX -run '^$'` searches for more.

// FuzzDecodeMeta: any bytes; a meta that decodes encodes to a value that
// decodes to the same meta.
func FuzzDecodeMeta(f *testing.F) {
	for i := 0; i < 4; i++ {
		row, err := encodePin(statetest.Pin(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(row.meta)
	}
	f.Add(meta{mode: -1, tsNs: math.MinInt64, expireAtNs: math.MaxInt64, userAllocs: [][]byte{{}, []byte("x")}}.encode())
	f.Add([]byte{metaVersion, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}) // claims 2^32-1 allocations
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeMeta error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if len(m.userAllocs) > maxAllocs {
			t.Fatalf("decodeMeta returned %d user allocations, above the bound %d", len(m.userAllocs), maxAllocs)
		}
		again, err := decodeMeta(m.encode())
		if err != nil {
			t.Fatalf("decodeMeta of an encoded meta %+v: %v", m, err)
		}
		if !reflect.DeepEqual(normMeta(m), normMeta(again)) {
			t.Fatalf("meta round trip:\nbefore %+v\nafter  %+v", m, again)
		}
	})
}

func normMeta(m meta) meta {
	if len(m.userAllocs) == 0 {
		m.userAllocs = nil
	}
	for i, a := range m.userAllocs {
		if len(a) == 0 {
			m.userAllocs[i] = []byte{}
		}
	}
	return m
}

// FuzzDecodeChange: any bytes; a change that decodes has a known
// operation and encodes to a value that decodes to the same change.
func FuzzDecodeChange(f *testing.F) {
	row, err := encodePin(statetest.Pin(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(change{op: OpPin, ts: 1_700_000_000_000_000, writer: "12D3KooWExample", meta: row.meta}.encode())
	f.Add(change{op: OpUnpin, ts: -1, writer: ""}.encode())
	f.Add([]byte{changeVersion, byte(OpPin), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChange(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeChange error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if c.op != OpPin && c.op != OpUnpin {
			t.Fatalf("decodeChange accepted operation %d", c.op)
		}
		again, err := decodeChange(c.encode())
		if err != nil {
			t.Fatalf("decodeChange of an encoded change %+v: %v", c, err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("change round trip:\nbefore %+v\nafter  %+v", c, again)
		}
	})
}

// FuzzChangeRoundTrip: every change encodes and decodes to itself.
func FuzzChangeRoundTrip(f *testing.F) {
	f.Add(true, int64(1_700_000_000_000_000), "12D3KooWExample", []byte{metaVersion, 0, 0, 0, 0})
	f.Add(false, int64(math.MinInt64), "", []byte(nil))
	f.Fuzz(func(t *testing.T, pin bool, ts int64, writer string, m []byte) {
		c := change{op: OpUnpin, ts: ts, writer: writer, meta: m}
		if pin {
			c.op = OpPin
		}
		if len(c.meta) == 0 {
			c.meta = nil // the decoder's form of "no meta"
		}
		got, err := decodeChange(c.encode())
		if err != nil {
			t.Fatalf("decodeChange(encode(%+v)): %v", c, err)
		}
		if !reflect.DeepEqual(c, got) {
			t.Fatalf("change round trip:\nbefore %+v\nafter  %+v", c, got)
		}
	})
}

// FuzzPinRowDecode: any row (the three columns, or the schema v1 columns);
// a row that decodes gives a pin that encodes to a row decoding to the
// same pin.
func FuzzPinRowDecode(f *testing.F) {
	for i := 0; i < 4; i++ {
		row, err := encodePin(statetest.Pin(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(row.cid, row.pin, row.meta, false, int8(0), int64(0), int64(0), []byte(nil))
	}
	legacy := statetest.Pin(5)
	pb, _ := legacy.ProtoMarshal()
	f.Add(legacy.Cid.Bytes(), pb, []byte(nil), true, int8(legacy.Mode), legacy.Timestamp.UnixNano(), legacy.ExpireAt.UnixNano(), []byte(statetest.PeerID(3)))
	f.Fuzz(func(t *testing.T, c, pb, m []byte, v1 bool, mode int8, tsNs, expNs int64, userAlloc []byte) {
		row := pinRow{cid: c, pin: pb, meta: m}
		if v1 {
			row.meta = nil
			row.legacyMode, row.legacyTsNs, row.legacyExpireAtNs = &mode, &tsNs, &expNs
			if userAlloc != nil {
				row.legacyUserAllocs = [][]byte{userAlloc}
			}
		}
		p, err := row.decode()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("pinRow.decode error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, err := encodePin(p)
		if err != nil {
			t.Fatalf("a decoded pin does not encode: %v (pin %+v)", err, p)
		}
		p2, err := again.decode()
		if err != nil {
			t.Fatalf("a re-encoded pin does not decode: %v", err)
		}
		requireSamePin(t, p, p2)
	})
}

// FuzzPinRoundTrip: a pin as a peer or an import makes it (valid CIDs
// and peer IDs, a mode that follows its depth, any names, numbers and
// times) reads back from its row equal to the pin written.
func FuzzPinRoundTrip(f *testing.F) {
	f.Add([]byte("seed"), uint8(0), int32(-1), "pin-1", int32(2), int32(3), uint64(1024),
		int64(1_700_000_000_123_456_789), int64(1_900_000_000), "k", "v", []byte("peer-a"), []byte("peer-b"), true, "/ip4/127.0.0.1/tcp/4001")
	f.Add([]byte{}, uint8(3), int32(0), "", int32(-1), int32(-1), uint64(0),
		int64(0), int64(0), "", "", []byte(nil), []byte(nil), false, "")
	f.Add([]byte{1}, uint8(1), int32(7), "\xff", int32(math.MinInt32), int32(math.MaxInt32), uint64(math.MaxUint64),
		int64(math.MinInt64), int64(math.MaxInt64), "\x00", "\x00", []byte{0}, []byte{}, true, "/dns4/example.com/tcp/1")
	f.Fuzz(func(t *testing.T, cidSeed []byte, typ uint8, depth int32, name string, rfMin, rfMax int32, shard uint64,
		tsNs, expSec int64, mk, mv string, alloc, userAlloc []byte, withRef bool, origin string) {
		p := api.Pin{
			Cid:         fuzzCid(t, cidSeed),
			Type:        api.PinType(1 << (typ % 5)),
			MaxDepth:    api.PinDepth(depth),
			Timestamp:   time.Unix(0, tsNs),
			Allocations: []peer.ID{fuzzPeer(t, alloc)},
			PinOptions: api.PinOptions{
				ReplicationFactorMin: int(rfMin),
				ReplicationFactorMax: int(rfMax),
				Name:                 name,
				ShardSize:            shard,
				ExpireAt:             time.Unix(expSec, 0),
				Metadata:             map[string]string{mk: mv},
				UserAllocations:      []peer.ID{peer.ID(userAlloc)},
			},
		}
		p.Mode = p.MaxDepth.ToPinMode()
		if withRef {
			ref := fuzzCid(t, append([]byte("ref"), cidSeed...))
			p.Reference = &ref
			p.PinUpdate = fuzzCid(t, append([]byte("upd"), cidSeed...))
		}
		if ma, err := api.NewMultiaddr(origin); err == nil {
			p.Origins = []api.Multiaddr{ma}
		}
		row, err := encodePin(p)
		if err != nil {
			// The protobuf takes only UTF-8 strings; every other pin encodes.
			if !utf8Problem(p) {
				t.Fatalf("encodePin: %v", err)
			}
			return
		}
		got, err := row.decode()
		if err != nil {
			t.Fatalf("decoding the row of %+v: %v", p, err)
		}
		requireSamePin(t, p, got)

		// The import path (a dsstate value: key CID plus protobuf) reads the
		// same pin, less what the protobuf does not keep.
		fromProto, err := rowFromProto(p.Cid, row.pin)
		if err != nil {
			t.Fatalf("rowFromProto: %v", err)
		}
		viaProto, err := fromProto.decode()
		if err != nil {
			t.Fatalf("decoding the row of an imported pin: %v", err)
		}
		want := p
		want.UserAllocations = nil
		want.Timestamp = time.Unix(want.Timestamp.Unix(), 0) // the protobuf keeps seconds
		requireSamePin(t, want, viaProto)
	})
}

// requireSamePin compares two pins the way upstream's state does: the
// Unix epoch is "no time" (the protobuf stores both as 0).
func requireSamePin(t *testing.T, want, got api.Pin) {
	t.Helper()
	epoch := func(tm time.Time) time.Time {
		if tm.Equal(time.Unix(0, 0)) {
			return time.Time{}
		}
		return tm
	}
	want.Timestamp, got.Timestamp = epoch(want.Timestamp), epoch(got.Timestamp)
	want.ExpireAt, got.ExpireAt = epoch(want.ExpireAt), epoch(got.ExpireAt)
	// Type 0 is no type: the protobuf writes it as BadType.
	if want.Type == 0 {
		want.Type = api.BadType
	}
	if got.Type == 0 {
		got.Type = api.BadType
	}
	w, g := statetest.Normalize(want), statetest.Normalize(got)
	if len(w.Allocations) == 0 {
		w.Allocations = nil
	}
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("pin read back differs:%s", pinDiff(w, g))
	}
}

// pinDiff lists the fields in which two pins differ.
func pinDiff(want, got api.Pin) string {
	var b strings.Builder
	var walk func(path string, w, g reflect.Value)
	walk = func(path string, w, g reflect.Value) {
		if w.Kind() == reflect.Struct && w.Type() != reflect.TypeOf(time.Time{}) && w.Type() != reflect.TypeOf(api.Cid{}) {
			for i := 0; i < w.NumField(); i++ {
				walk(path+"."+w.Type().Field(i).Name, w.Field(i), g.Field(i))
			}
			return
		}
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			fmt.Fprintf(&b, "\n  %s: want %#v, got %#v", path, w.Interface(), g.Interface())
		}
	}
	walk("pin", reflect.ValueOf(want), reflect.ValueOf(got))
	return b.String()
}

func fuzzCid(t *testing.T, seed []byte) api.Cid {
	if c, err := api.CastCid(seed); err == nil && c.Defined() {
		return c
	}
	h, err := mh.Sum(seed, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewCid(cid.NewCidV1(cid.Raw, h))
}

func fuzzPeer(t *testing.T, seed []byte) peer.ID {
	if len(seed) > 32 {
		seed = seed[:32]
	}
	h, err := mh.Sum(seed, mh.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	return peer.ID(h)
}

func utf8Problem(p api.Pin) bool {
	if !utf8.ValidString(p.Name) {
		return true
	}
	for k, v := range p.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return true
		}
	}
	return false
}
