// Command quickstart connects to the database (creating the keyspace and
// tables when they are missing), then adds, reads, batches, lists and
// exports pins, and removes what it added. Run it on a keyspace of its
// own, never on a running cluster's:
//
//	CLUSTER_SCYLLASTATE_HOSTS=127.0.0.1 go run ./docs/examples/quickstart
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// 1. The configuration: Default keeps the fields set here and fills
	// in every other one.
	cfg := &scyllastate.Config{
		Hosts:       []string{"127.0.0.1"},
		Port:        9042,
		Keyspace:    "ipfs_pins_quickstart",
		Consistency: "QUORUM",
		Timeout:     10 * time.Second,
	}
	if err := cfg.Default(); err != nil {
		return err
	}
	// CLUSTER_SCYLLASTATE_* environment variables override the fields
	// (CLUSTER_SCYLLASTATE_KEYSPACE=demo, ...), as they do in the daemon.
	if err := cfg.ApplyEnvVars(); err != nil {
		return err
	}

	// 2. The store: New validates cfg, connects (retrying as
	// cfg.RetryPolicy says, within ctx) and creates or checks the schema.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("creating the state store: %w", err)
	}
	defer st.Close()
	fmt.Printf("connected to %v, keyspace %s\n", cfg.Hosts, cfg.Keyspace)

	// 3. Use it: st implements upstream's state.State...
	pins, err := quickstartPins(1000)
	if err != nil {
		return err
	}
	if err := st.Add(ctx, pins[0]); err != nil {
		return err
	}
	got, err := st.Get(ctx, pins[0].Cid)
	if err != nil {
		return err
	}
	fmt.Printf("added and read back %s (name %q)\n", got.Cid, got.Name)

	// A missing pin is upstream's state.ErrNotFound.
	missing, err := cidOf("never pinned")
	if err != nil {
		return err
	}
	if _, err := st.Get(ctx, missing); errors.Is(err, state.ErrNotFound) {
		fmt.Println("a missing pin is state.ErrNotFound")
	}

	// ...and st.Batch() its state.BatchingState: Add and Rm are
	// buffered, Commit writes them.
	b := st.Batch()
	for _, p := range pins[1:] {
		if err := b.Add(ctx, p); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}

	// List closes the channel itself: do not close it again.
	out := make(chan api.Pin, 100)
	errc := make(chan error, 1)
	go func() { errc <- st.List(ctx, out) }()
	n := 0
	for range out {
		n++
	}
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("listed %d pins\n", n)

	// Marshal writes upstream dsstate's export format.
	var buf bytes.Buffer
	if err := st.Marshal(&buf); err != nil {
		return err
	}
	fmt.Printf("exported the pinset in dsstate format: %d bytes\n", buf.Len())

	// Remove what this program added, in one more batch.
	for _, p := range pins {
		if err := b.Rm(ctx, p.Cid); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	fmt.Printf("removed the %d pins again\n", len(pins))
	return nil
}

// quickstartPins returns n pins of made-up CIDs, pinned everywhere.
func quickstartPins(n int) ([]api.Pin, error) {
	pins := make([]api.Pin, 0, n)
	for i := range n {
		c, err := cidOf(fmt.Sprintf("quickstart %d", i))
		if err != nil {
			return nil, err
		}
		pins = append(pins, api.PinWithOpts(c, api.PinOptions{
			Name:                 fmt.Sprintf("quickstart-%d", i),
			ReplicationFactorMin: -1,
			ReplicationFactorMax: -1,
		}))
	}
	return pins, nil
}

// cidOf returns the CID of a raw block holding s.
func cidOf(s string) (api.Cid, error) {
	sum := sha256.Sum256([]byte(s))
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		return api.CidUndef, err
	}
	return api.NewCid(cid.NewCidV1(cid.Raw, h)), nil
}
