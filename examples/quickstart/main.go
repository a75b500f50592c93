// Command quickstart is the usage guide's Quick Start against a real
// database: it connects, adds, reads, batches, lists and exports pins.
//
//	scripts/with-cassandra.sh go run ./examples/quickstart
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	hosts := "127.0.0.1"
	if h := os.Getenv("SCYLLASTATE_TEST_HOSTS"); h != "" {
		hosts = h
	}
	cfg := &scyllastate.Config{
		Hosts:       strings.Split(hosts, ","),
		Port:        9042,
		Keyspace:    "ipfs_pins_quickstart",
		Consistency: "QUORUM",
		Timeout:     10 * time.Second,
	}
	_ = cfg.Default() // keeps the fields above, fills in the rest

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("connected to %v, keyspace %s\n", cfg.Hosts, cfg.Keyspace)

	pin := statetest.Pin(1)
	if err := st.Add(ctx, pin); err != nil {
		return err
	}
	got, err := st.Get(ctx, pin.Cid)
	if err != nil {
		return err
	}
	fmt.Printf("added and read back %s (name %q, allocations %d)\n", got.Cid, got.Name, len(got.Allocations))

	if _, err := st.Get(ctx, statetest.Cid(999_999)); errors.Is(err, state.ErrNotFound) {
		fmt.Println("a missing pin is state.ErrNotFound")
	}

	b := st.Batch()
	for i := 2; i <= 1000; i++ {
		if err := b.Add(ctx, statetest.Pin(i)); err != nil {
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

	var buf bytes.Buffer
	if err := st.Marshal(&buf); err != nil {
		return err
	}
	fmt.Printf("exported the pinset in dsstate format: %d bytes\n", buf.Len())
	return nil
}
