// Command backup saves the whole pinset to a file, or adds the pins of
// such a file to the pinset:
//
//	backup save pins.msgpack
//	backup restore pins.msgpack
//
// The file is upstream dsstate's serialization (msgpack): what
// dsstate.State.Marshal writes, and what dsstate.State.Unmarshal reads.
// Restoring adds and replaces pins; it removes none.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "save" && os.Args[1] != "restore") {
		log.Fatal("usage: backup save|restore FILE")
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		log.Fatal(err)
	}
}

func run(action, path string) error {
	cfg := &scyllastate.Config{Keyspace: "ipfs_pins_example"}
	if err := cfg.Default(); err != nil {
		return err
	}
	if err := cfg.ApplyEnvVars(); err != nil {
		return err
	}
	// Marshal and Unmarshal take no context: each of their queries is
	// bounded by cfg.Timeout. The context bounds connecting.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	if action == "save" {
		return save(st, path)
	}
	return restore(st, path)
}

func save(st *scyllastate.ScyllaState, path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w := bufio.NewWriter(f)
	if err := st.Marshal(w); err != nil {
		return fmt.Errorf("saving the pinset to %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Printf("Pinset of keyspace %s saved to %s\n", st.Config().Keyspace, path)
	return nil
}

func restore(st *scyllastate.ScyllaState, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := st.Unmarshal(bufio.NewReader(f)); err != nil {
		return fmt.Errorf("restoring %s: %w", path, err)
	}
	fmt.Printf("Pins of %s added to keyspace %s\n", path, st.Config().Keyspace)
	return nil
}
