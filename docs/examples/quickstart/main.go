// Command quickstart connects to the database, creating the keyspace and
// tables when they are missing, and closes the store.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

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
		Keyspace:    "ipfs_pins",
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("creating the state store: %w", err)
	}
	defer st.Close()

	// 3. Use it: st implements upstream's state.State, and st.Batch()
	// its state.BatchingState.
	log.Printf("connected to %v, keyspace %s", cfg.Hosts, cfg.Keyspace)
	return nil
}
