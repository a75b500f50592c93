// Command migrate fills the shared pinset from another pinset:
//
//	migrate export.json        # the output of `ipfs-cluster-service state export`
//	                           # run on a crdt or raft peer
//	migrate -keyspace OLD      # another keyspace of the same database,
//	                           # e.g. to move to new replication settings
//
// The destination is the keyspace of the configuration
// (CLUSTER_SCYLLASTATE_KEYSPACE, ...). Pins are added or replaced; none is
// removed. `ipfs-cluster-service state import` does the first for you.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

const commitEvery = 5000

func main() {
	from := flag.String("keyspace", "", "copy the pins of this keyspace instead of reading an export file")
	flag.Parse()
	if (*from == "") == (flag.NArg() == 0) {
		log.Fatal("usage: migrate EXPORT.json | migrate -keyspace OLD")
	}
	// Ctrl-C stops the copy; what was committed stays.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *from, flag.Arg(0)); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, fromKeyspace, exportFile string) error {
	cfg := &scyllastate.Config{Keyspace: "ipfs_pins_example"}
	if err := cfg.Default(); err != nil {
		return err
	}
	if err := cfg.ApplyEnvVars(); err != nil {
		return err
	}
	dst, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer dst.Close()

	if exportFile != "" {
		f, err := os.Open(exportFile)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := importExport(ctx, bufio.NewReader(f), dst)
		fmt.Printf("Imported %d pins from %s\n", n, exportFile)
		return err
	}

	srcCfg := *cfg // same database and settings, other keyspace
	srcCfg.Keyspace = fromKeyspace
	srcCfg.SchemaMode = scyllastate.SchemaModeCheck // never create the source
	src, err := scyllastate.New(ctx, &srcCfg)
	if err != nil {
		return err
	}
	defer src.Close()
	n, err := copyPins(ctx, src, dst)
	fmt.Printf("Copied %d pins from keyspace %s to %s\n", n, fromKeyspace, cfg.Keyspace)
	return err
}

// importExport reads the JSON pins written by `state export` (one object
// after another) and writes them in batches.
func importExport(ctx context.Context, r io.Reader, dst *scyllastate.ScyllaState) (int, error) {
	b := dst.Batch()
	dec := json.NewDecoder(r)
	n := 0
	for {
		var pin api.Pin
		if err := dec.Decode(&pin); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return n, fmt.Errorf("pin %d of the export: %w", n+1, err)
		}
		if err := b.Add(ctx, pin); err != nil {
			return n, err
		}
		n++
		if n%commitEvery == 0 {
			if err := b.Commit(ctx); err != nil {
				return n - b.Pending(), err
			}
			fmt.Printf("Imported %d pins\n", n)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return n - b.Pending(), err
	}
	return n, nil
}

// copyPins streams every pin of src (any upstream state: a scyllastate, a
// dsstate, ...) into dst. List closes the channel itself; the copy stops
// List by cancelling its context if a write fails.
func copyPins(ctx context.Context, src state.ReadOnly, dst *scyllastate.ScyllaState) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pins := make(chan api.Pin, 1000)
	errc := make(chan error, 1)
	go func() { errc <- src.List(ctx, pins) }()

	b := dst.Batch()
	n := 0
	var werr error
	for pin := range pins {
		if werr != nil {
			continue // drain until List sees the cancellation
		}
		if werr = b.Add(ctx, pin); werr != nil {
			cancel()
			continue
		}
		n++
		if n%commitEvery == 0 {
			if werr = b.Commit(ctx); werr != nil {
				cancel()
				continue
			}
			fmt.Printf("Copied %d pins\n", n)
		}
	}
	if err := <-errc; werr == nil && err != nil {
		return n, fmt.Errorf("listing the source: %w", err)
	}
	if werr != nil {
		return n - b.Pending(), werr
	}
	if err := b.Commit(ctx); err != nil {
		return n - b.Pending(), err
	}
	return n, nil
}
