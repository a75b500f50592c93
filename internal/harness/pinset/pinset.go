// Package pinset makes the benchmarks' pinsets: series of CIDs whose
// blocks no one has (an offline kubo fails to pin them at once, for every
// backend alike), and NDJSON files of pins as `state export` writes them.
package pinset

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Timestamp is the time of every pin WriteNDJSON writes.
var Timestamp = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// CID is the i-th CID of a series: CIDv1, raw codec, sha2-256 multihash of
// the series name and i as 8 big-endian bytes.
func CID(series string, i int) cid.Cid {
	h := sha256.New()
	h.Write([]byte(series))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h.Write(b[:])
	digest, err := mh.Encode(h.Sum(nil), mh.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte sha256 digest always encodes
	}
	return cid.NewCidV1(cid.Raw, digest)
}

// WriteNDJSON writes the first n pins of the series to path as NDJSON
// api.Pin lines (what `state export` writes and `state import` reads):
// replicated everywhere, all at Timestamp.
func WriteNDJSON(path, series string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for i := 0; i < n && err == nil; i++ {
		p := api.PinWithOpts(api.NewCid(CID(series, i)), api.PinOptions{ReplicationFactorMin: -1, ReplicationFactorMax: -1})
		p.Timestamp = Timestamp
		err = enc.Encode(p)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pinset %s: %w", path, err)
	}
	return nil
}
