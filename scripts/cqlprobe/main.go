// Command cqlprobe is the small CQL client of the Cassandra harness
// (internal/harness/cqlprobe) on its own: `go run ./scripts/cqlprobe -h`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cqlprobe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cqlprobe.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
