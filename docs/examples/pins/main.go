// Command pins adds, reads, checks, lists and removes a pin.
//
// It writes to the keyspace it is given: run it on a keyspace of its own,
// never on the keyspace of a running cluster, whose peers would pin what
// it adds.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/libp2p/go-libp2p/core/peer"

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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	pin, err := newPin()
	if err != nil {
		return err
	}
	if err := addPin(ctx, st, pin); err != nil {
		return err
	}
	if err := getPin(ctx, st, pin.Cid); err != nil {
		return err
	}
	if err := checkPin(ctx, st, pin.Cid); err != nil {
		return err
	}
	if err := listPins(ctx, st); err != nil {
		return err
	}
	if err := removePin(ctx, st, pin.Cid); err != nil {
		return err
	}
	return getPin(ctx, st, pin.Cid) // now "not found"
}

// newPin builds a pin as upstream's api.Pin defines it: allocations are
// libp2p peer IDs, and the replication factors, the name and the metadata
// (not "UserDefined") are fields of the embedded PinOptions.
func newPin() (api.Pin, error) {
	c, err := api.DecodeCid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	if err != nil {
		return api.Pin{}, err
	}
	var allocations []peer.ID
	for _, s := range []string{
		"12D3KooWSVkPpeiNRXncp9nwdWV9fxDv2XmeKDzmc3SEDhYRqMLA",
		"12D3KooWHh2d7W7mVrBahhzaBWD95QHMfe7W3fd3s1T5WocXVMdE",
	} {
		pid, err := peer.Decode(s)
		if err != nil {
			return api.Pin{}, fmt.Errorf("peer ID %q: %w", s, err)
		}
		allocations = append(allocations, pid)
	}
	return api.Pin{
		Cid:         c,
		Type:        api.DataType,
		Allocations: allocations,
		MaxDepth:    -1, // recursive
		Timestamp:   time.Now(),
		PinOptions: api.PinOptions{
			ReplicationFactorMin: 2,
			ReplicationFactorMax: 3,
			Name:                 "my-document",
			Mode:                 api.PinModeRecursive,
			Metadata: map[string]string{
				"category": "documents",
				"priority": "high",
			},
		},
	}, nil
}

func addPin(ctx context.Context, st state.State, pin api.Pin) error {
	if err := st.Add(ctx, pin); err != nil {
		return fmt.Errorf("adding pin %s: %w", pin.Cid, err)
	}
	fmt.Printf("Pin added: %s\n", pin.Cid)
	return nil
}

func getPin(ctx context.Context, st state.ReadOnly, c api.Cid) error {
	pin, err := st.Get(ctx, c)
	if errors.Is(err, state.ErrNotFound) { // not err.Error() == "not found"
		fmt.Printf("Pin not found: %s\n", c)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting pin %s: %w", c, err)
	}
	fmt.Printf("Retrieved pin: %s (name: %s)\n", pin.Cid, pin.Name)
	fmt.Printf("  Type: %s\n", pin.Type)
	fmt.Printf("  Replication: %d-%d\n", pin.ReplicationFactorMin, pin.ReplicationFactorMax)
	fmt.Printf("  Allocations: %v\n", pin.Allocations)
	fmt.Printf("  Metadata: %v\n", pin.Metadata)
	return nil
}

func checkPin(ctx context.Context, st state.ReadOnly, c api.Cid) error {
	exists, err := st.Has(ctx, c)
	if err != nil {
		return fmt.Errorf("checking pin %s: %w", c, err)
	}
	fmt.Printf("Pin %s exists: %t\n", c, exists)
	return nil
}

// listPins streams every pin. List closes the channel when it is done, as
// every upstream state does: the caller ranges over it and must not close
// it. Read List's error after the loop.
func listPins(ctx context.Context, st state.ReadOnly) error {
	pins := make(chan api.Pin, 100)
	errc := make(chan error, 1)
	go func() { errc <- st.List(ctx, pins) }()

	count := 0
	for pin := range pins {
		count++
		fmt.Printf("Pin %d: %s (%s)\n", count, pin.Cid, pin.Name)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("listing pins after %d: %w", count, err)
	}
	fmt.Printf("Total pins listed: %d\n", count)
	return nil
}

// removePin removes a pin; removing a pin that is not there is no error.
func removePin(ctx context.Context, st state.State, c api.Cid) error {
	if err := st.Rm(ctx, c); err != nil {
		return fmt.Errorf("removing pin %s: %w", c, err)
	}
	fmt.Printf("Pin removed: %s\n", c)
	return nil
}
