package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	cid "github.com/ipfs/go-cid"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/pinset"
)

// genCID is the i-th CID of a series: CIDv1, raw codec, sha256 multihash
// of (series, i). No kubo holds such a block, so an offline kubo fails to
// pin it at once, for every backend alike.
func genCID(series string, i int) cid.Cid { return pinset.CID(series, i) }

// genPinnableCID is the i-th CID of a series that every kubo pins at
// once, offline: CIDv1, raw codec, identity multihash of the 32 bytes of
// genCID's digest (the block is the CID itself). The N-peer phase adds
// these, so that the time of a pin to every tracker and the cost of idle
// peers are not those of failing pins retried.
func genPinnableCID(series string, i int) cid.Cid {
	digest, err := mh.Decode(genCID(series, i).Hash())
	if err != nil {
		panic(err) // genCID's multihash always decodes
	}
	id, err := mh.Sum(digest.Digest, mh.IDENTITY, -1)
	if err != nil {
		panic(err) // identity takes any 32 bytes
	}
	return cid.NewCidV1(cid.Raw, id)
}

// genPinnableCIDs returns n CID strings of a series, as genPinnableCID.
func genPinnableCIDs(series string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = genPinnableCID(series, i).String()
	}
	return out
}

// genCIDs returns n CID strings of a series.
func genCIDs(series string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = genCID(series, i).String()
	}
	return out
}

// writePinset writes n pins of a series to path in the format of
// upstream's `state export` (one api.Pin JSON object per line): recursive
// data pins, replication -1 (allocated everywhere), no name.
func writePinset(path, series string, n int) error {
	return writePins(path, series, n, -1, nil)
}

// writeAllocatedPinset writes n pins as writePinset does, each with
// replication factor rf and allocated to rf of the peers, round robin: the
// peers share the pinset, rf copies of each pin.
func writeAllocatedPinset(path, series string, n, rf int, peers []string) error {
	ids := make([]libp2ppeer.ID, len(peers))
	for i, p := range peers {
		id, err := libp2ppeer.Decode(p)
		if err != nil {
			return fmt.Errorf("peer ID %q: %w", p, err)
		}
		ids[i] = id
	}
	if rf > len(ids) {
		return fmt.Errorf("replication factor %d with %d peers", rf, len(ids))
	}
	return writePins(path, series, n, rf, func(i int) []libp2ppeer.ID { return allocationOf(ids, i, rf) })
}

// allocationOf is the allocation of the i-th pin: rf consecutive peers
// from peer i*rf (mod len(ids)), so that every peer holds about the same
// share.
func allocationOf(ids []libp2ppeer.ID, i, rf int) []libp2ppeer.ID {
	out := make([]libp2ppeer.ID, rf)
	for j := range rf {
		out[j] = ids[(i*rf+j)%len(ids)]
	}
	return out
}

// writePins writes n pins with replication factor rf and, when alloc is
// not nil, the allocations it gives each.
func writePins(path, series string, n, rf int, alloc func(i int) []libp2ppeer.ID) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		p := api.PinWithOpts(api.NewCid(genCID(series, i)), api.PinOptions{
			ReplicationFactorMin: rf,
			ReplicationFactorMax: rf,
		})
		p.Timestamp = ts
		if alloc != nil {
			p.Allocations = alloc(i)
		}
		if err := enc.Encode(p); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// countLines counts the lines of a file (pins in an export).
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			n++
		}
	}
	return n, sc.Err()
}
