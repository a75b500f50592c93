// Command batch writes pins through a batching state: a plain batch, a
// large import committed in steps, and a batch mixing adds and removals.
//
// Run it on a keyspace of its own, never on a running cluster's.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
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
	cfg := &scyllastate.Config{Keyspace: "ipfs_pins_example"}
	if err := cfg.Default(); err != nil {
		return err
	}
	if err := cfg.ApplyEnvVars(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	pins, err := testPins(2000)
	if err != nil {
		return err
	}
	if err := batchAdd(ctx, st, pins[:100]); err != nil {
		return err
	}
	if err := largeBatch(ctx, st, pins, 500); err != nil {
		return err
	}
	var remove []api.Cid
	for _, p := range pins[:100] {
		remove = append(remove, p.Cid)
	}
	return mixedBatch(ctx, st, pins[:5], remove)
}

// batchAdd buffers the pins and writes them with one Commit. Commit
// writes the buffered changes as a group: first their change events, then
// their pin rows, each in unlogged batches of at most 10 partitions,
// write_concurrency batches at a time. It is not a transaction: a change
// that failed stays buffered for the next Commit, one of unknown outcome
// (a timeout) is finished by the store itself. Reads never see what is
// still buffered.
func batchAdd(ctx context.Context, st *scyllastate.ScyllaState, pins []api.Pin) error {
	b := st.Batch()
	for _, pin := range pins {
		if err := b.Add(ctx, pin); err != nil {
			return fmt.Errorf("buffering pin %s: %w", pin.Cid, err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("committing %d pins (%d still buffered): %w", len(pins), b.Pending(), err)
	}
	fmt.Printf("Batch of %d pins committed\n", len(pins))
	return nil
}

// largeBatch commits every `every` pins to report progress. Memory is
// bounded anyway: the batch flushes itself when it holds
// state.scyllastate.batch_size operations (10000 by default), and Add then
// returns the error of that flush.
func largeBatch(ctx context.Context, st *scyllastate.ScyllaState, pins []api.Pin, every int) error {
	b := st.Batch()
	for i, pin := range pins {
		if err := b.Add(ctx, pin); err != nil {
			return fmt.Errorf("pin %d (%s): %w", i, pin.Cid, err)
		}
		if (i+1)%every == 0 || i == len(pins)-1 {
			if err := b.Commit(ctx); err != nil {
				// The failed operations stay buffered: one more Commit
				// retries them once the database is back (those of
				// unknown outcome, the store finishes by itself).
				return fmt.Errorf("commit after %d of %d pins: %w", i+1, len(pins), err)
			}
			fmt.Printf("Committed %d/%d pins\n", i+1, len(pins))
		}
	}
	return nil
}

// mixedBatch adds and removes in one batch. When a CID is both added and
// removed, the last buffered operation wins.
func mixedBatch(ctx context.Context, st *scyllastate.ScyllaState, add []api.Pin, remove []api.Cid) error {
	b := st.Batch()
	for _, pin := range add {
		if err := b.Add(ctx, pin); err != nil {
			return err
		}
	}
	for _, c := range remove {
		if err := b.Rm(ctx, c); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("committing the mixed batch: %w", err)
	}
	fmt.Printf("Mixed batch committed: %d adds, %d removes\n", len(add), len(remove))
	return nil
}

// testPins returns n pins of distinct, made-up CIDs (CIDv1, raw leaves).
func testPins(n int) ([]api.Pin, error) {
	pins := make([]api.Pin, 0, n)
	for i := 0; i < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("batch example %d", i)))
		h, err := mh.Encode(sum[:], mh.SHA2_256)
		if err != nil {
			return nil, err
		}
		pin := api.PinWithOpts(api.NewCid(cid.NewCidV1(cid.Raw, h)), api.PinOptions{
			Name:                 fmt.Sprintf("example-%d", i),
			ReplicationFactorMin: -1, // everywhere
			ReplicationFactorMax: -1,
		})
		pins = append(pins, pin)
	}
	return pins, nil
}
