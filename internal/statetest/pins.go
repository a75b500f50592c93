// Package statetest holds a conformance suite for upstream's state.State
// contract, run against upstream dsstate and against scyllastate, and the
// test pins it uses.
package statetest

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	cid "github.com/ipfs/go-cid"
	peer "github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Cid returns a deterministic CIDv1 (raw, sha2-256) for n.
func Cid(n int) api.Cid {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h, err := mh.Sum(b[:], mh.SHA2_256, -1)
	if err != nil {
		panic(err)
	}
	return api.NewCid(cid.NewCidV1(cid.Raw, h))
}

// PeerID returns a deterministic peer ID (identity multihash) for n.
func PeerID(n int) peer.ID {
	h, err := mh.Sum([]byte(fmt.Sprintf("peer-%d", n)), mh.IDENTITY, -1)
	if err != nil {
		panic(err)
	}
	return peer.ID(h)
}

// Pin returns a pin for n with every field that upstream's protobuf
// serialization keeps set: allocations, replication, name, metadata,
// reference, shard size, expiry, origins, pin update, timestamp (whole
// seconds). Its Mode matches its MaxDepth.
func Pin(n int) api.Pin {
	ref := Cid(n + 1_000_000_000)
	origin, err := api.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 4001+n%1000))
	if err != nil {
		panic(err)
	}
	p := api.Pin{
		Cid:         Cid(n),
		Type:        api.DataType,
		Allocations: []peer.ID{PeerID(n), PeerID(n + 1)},
		MaxDepth:    -1,
		Reference:   &ref,
		Timestamp:   time.Unix(1_700_000_000+int64(n), 0),
		PinOptions: api.PinOptions{
			ReplicationFactorMin: 2,
			ReplicationFactorMax: 3,
			Name:                 fmt.Sprintf("pin-%d", n),
			Mode:                 api.PinModeRecursive,
			ShardSize:            1024,
			ExpireAt:             time.Unix(1_900_000_000+int64(n), 0),
			Metadata:             map[string]string{"n": fmt.Sprint(n), "kind": "test"},
			PinUpdate:            Cid(n + 2_000_000_000),
			Origins:              []api.Multiaddr{origin},
		},
	}
	if n%3 == 0 { // some direct pins
		p.MaxDepth = 0
		p.Mode = api.PinModeDirect
	}
	return p
}

// Normalize makes two equal pins DeepEqual: times in UTC without
// monotonic clock, empty maps and slices as nil.
func Normalize(p api.Pin) api.Pin {
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Round(0)
	}
	p.Timestamp = norm(p.Timestamp)
	p.ExpireAt = norm(p.ExpireAt)
	if len(p.Metadata) == 0 {
		p.Metadata = nil
	}
	if len(p.Allocations) == 0 {
		p.Allocations = nil
	}
	if len(p.UserAllocations) == 0 {
		p.UserAllocations = nil
	}
	if len(p.Origins) == 0 {
		p.Origins = nil
	}
	return p
}

// RequireEqual fails the test unless the two pins are equal in every field.
func RequireEqual(t testing.TB, want, got api.Pin) {
	t.Helper()
	w, g := Normalize(want), Normalize(got)
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("pin read back differs from pin written:\nwant %+v\ngot  %+v", w, g)
	}
}
