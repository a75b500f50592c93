// Command listing writes a pinset for the listing benchmark of run.sh: N
// pins (NDJSON api.Pin lines, as state export writes them) allocated to a
// peer outside the cluster, so that the peer that imports them tracks
// none and a listing is measured alone.
//
//	go run ./bench/listing -n 1000000 > pins.ndjson
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/pinset"
)

// outsider is the peer the pins are allocated to: no peer of the cluster.
const outsider = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"

func main() {
	n := flag.Int("n", 1000000, "pins to write")
	flag.Parse()
	if err := write(*n); err != nil {
		fmt.Fprintln(os.Stderr, "listing:", err)
		os.Exit(1)
	}
}

func write(n int) error {
	if n < 1 {
		return fmt.Errorf("-n %d: want 1 or more pins", n)
	}
	other, err := libp2ppeer.Decode(outsider)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		p := api.PinWithOpts(api.NewCid(pinset.CID("ls", i)), api.PinOptions{ReplicationFactorMin: 1, ReplicationFactorMax: 1})
		p.Timestamp = ts
		p.Allocations = []libp2ppeer.ID{other}
		if err := enc.Encode(p); err != nil {
			return err
		}
	}
	return w.Flush()
}
