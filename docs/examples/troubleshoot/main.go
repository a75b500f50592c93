// Command troubleshoot checks, step by step, that the store can work with
// the configured database: each contact point accepts TCP, the store
// connects and finds its schema, and reads answer in time. It writes
// nothing, so it is safe on a running cluster's keyspace.
//
//	CLUSTER_SCYLLASTATE_HOSTS=db1,db2 CLUSTER_SCYLLASTATE_KEYSPACE=pins troubleshoot
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	cfg := &scyllastate.Config{}
	if err := cfg.Default(); err != nil {
		log.Fatal(err)
	}
	if err := cfg.ApplyEnvVars(); err != nil {
		log.Fatal(err)
	}
	if err := diagnose(cfg); err != nil {
		log.Fatal(err)
	}
}

func diagnose(cfg *scyllastate.Config) error {
	if err := cfg.Validate(); err != nil {
		return err // names the field and how to fix it
	}

	// 1. TCP to every contact point ("host" or "host:port", IPv6 too).
	for _, h := range cfg.Hosts {
		addr := h
		if _, _, err := net.SplitHostPort(h); err != nil {
			addr = net.JoinHostPort(h, strconv.Itoa(cfg.Port))
		}
		conn, err := net.DialTimeout("tcp", addr, cfg.ConnectTimeout)
		if err != nil {
			return fmt.Errorf("cannot reach %s: %w", addr, err)
		}
		conn.Close()
		fmt.Printf("✓ TCP connection to %s\n", addr)
	}

	// 2. CQL session, authentication, TLS, schema. New retries as
	// retry_policy says; the context bounds the whole attempt. In check
	// mode New creates nothing: it fails when the schema is missing.
	cfg.SchemaMode = scyllastate.SchemaModeCheck
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to the database: %w", err)
	}
	defer st.Close()
	fmt.Printf("✓ connected, schema of keyspace %s checked, in %s\n", cfg.Keyspace, time.Since(start).Round(time.Millisecond))

	// 3. Read latency, without writing: Get and Has of a CID that is not
	// pinned read one partition each at cfg.Consistency.
	probe, err := api.DecodeCid("bafkqaaa")
	if err != nil {
		return err
	}
	for _, op := range []struct {
		name string
		fn   func() error
	}{
		{"get", func() error {
			if _, err := st.Get(ctx, probe); !errors.Is(err, state.ErrNotFound) {
				return fmt.Errorf("want state.ErrNotFound, got %w", err)
			}
			return nil
		}},
		{"has", func() error { _, err := st.Has(ctx, probe); return err }},
	} {
		start := time.Now()
		if err := op.fn(); err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		fmt.Printf("✓ %s at %s in %s\n", op.name, cfg.Consistency, time.Since(start).Round(time.Microsecond))
	}
	return nil
}
