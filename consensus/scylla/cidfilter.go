package scylla

import (
	"hash/fnv"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// cidFilter tells which CIDs may have a stored error (a Bloom filter of
// two hashes over 2^24 bits, 2 MiB: about 1.4% false positives at 1M
// CIDs), so that an operation that succeeds deletes a row only when one
// may exist: no delete, and no tombstone, per pin otherwise. Until it is
// loaded from the table (all), every CID may have one.
type cidFilter struct {
	all  bool
	bits []uint64
}

// cidFilterBits is the size of a filter in bits.
const cidFilterBits = 1 << 24

// newCidFilter returns an empty filter; all: one that answers every CID
// may have been added (not loaded yet).
func newCidFilter(all bool) *cidFilter {
	return &cidFilter{all: all, bits: make([]uint64, cidFilterBits/64)}
}

// cidHashes are the two bit positions of c.
func cidHashes(c api.Cid) (uint32, uint32) {
	h := fnv.New64a()
	_, _ = h.Write(c.Bytes())
	s := h.Sum64()
	return uint32(s) % cidFilterBits, uint32(s>>32) % cidFilterBits
}

// has tells whether bit i is set.
func (f *cidFilter) has(i uint32) bool { return f.bits[i/64]&(1<<(i%64)) != 0 }

// maybe tells whether c may have been added.
func (f *cidFilter) maybe(c api.Cid) bool {
	if f.all {
		return true
	}
	a, b := cidHashes(c)
	return f.has(a) && f.has(b)
}

// add adds c and tells whether it may have been added before (as far
// as the bits tell: an unloaded filter answers for what it was given).
func (f *cidFilter) add(c api.Cid) bool {
	a, b := cidHashes(c)
	had := f.has(a) && f.has(b)
	f.bits[a/64] |= 1 << (a % 64)
	f.bits[b/64] |= 1 << (b % 64)
	return had
}
