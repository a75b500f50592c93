// Command failingpins is the failing-pins benchmark of
// bench/results/failing-pins.md: one peer (ours, scylla consensus; or
// upstream v1.1.5, crdt on pebble), N imported pins, an offline kubo, so
// that every pin fails. It measures the time until all N are in error
// (the gauge ipfscluster_pins_pin_error), the peer's RSS then and 60 s
// later, and the time of `ipfs-cluster-ctl status --filter error`.
//
//	go run ./bench/failingpins [-repo DIR] [-work DIR] [-timeout D] [-stored] scylla|crdt N
//
// With -stored (ours only) no pin is imported: N errors of the peer are
// written straight into tracker_errors before it starts, as its tracker
// stores them, to time the listing of a million errors without the hour
// a peer takes to fail them.
//
// It runs the binaries of the repository's bin/ (make build, make kubo;
// bin/upstream/ipfs-cluster-service for crdt) and, for scylla, the
// Cassandra instance of scripts/cassandra.sh (CASSANDRA_* variables; it
// must run). Its messages go to stderr and WORK/MODE-N/summary.txt.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "failingpins:", err)
		os.Exit(1)
	}
}

// run parses the command line and runs the benchmark.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("failingpins", flag.ContinueOnError)
	repo := fs.String("repo", ".", "the repository (its bin/ has the binaries)")
	work := fs.String("work", "/tmp/fpbench", "parent of the run's folder MODE-N (deleted first)")
	timeout := fs.Duration("timeout", 20*time.Minute, "how long to wait for all N pins in error")
	stored := fs.Bool("stored", false, "scylla only: write N errors of the peer straight into tracker_errors (no pins, no import) and measure the listing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: failingpins [flags] scylla|crdt N")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("want 2 arguments (scylla|crdt N), got %d", fs.NArg())
	}
	mode := fs.Arg(0)
	if mode != "scylla" && mode != "crdt" {
		return fmt.Errorf("mode %q: want scylla (ours) or crdt (upstream v1.1.5)", mode)
	}
	n, err := strconv.Atoi(fs.Arg(1))
	if err != nil || n < 1 {
		return fmt.Errorf("N %q: want a number of pins (1 or more)", fs.Arg(1))
	}
	if *stored && mode != "scylla" {
		return fmt.Errorf("-stored is for scylla only (upstream keeps its errors in memory)")
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%d", mode, n)
	keyspace := fmt.Sprintf("fpbench_%s_%d", mode, n)
	if *stored {
		name, keyspace = fmt.Sprintf("stored-%d", n), fmt.Sprintf("fpbench_stored_%d", n)
	}
	b := &bench{
		mode: mode, n: n, timeout: *timeout, stored: *stored,
		bin: filepath.Join(root, "bin"), dir: filepath.Join(*work, name),
		keyspace: keyspace,
	}
	return b.run(ctx)
}
