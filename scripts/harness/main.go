// Command harness is the command line of the test harness
// (internal/harness): `harness cassandra COMMAND` is scripts/cassandra.sh,
// `harness kubo COMMAND` is scripts/kubo.sh. The scripts build it once
// per source version into the cache dir and run it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: harness cassandra|kubo COMMAND [ARGS]")
		return 2
	}
	switch args[0] {
	case "cassandra":
		return cassandraMain(ctx, args[1:])
	case "kubo":
		return kuboMain(ctx, args[1:])
	}
	fmt.Fprintf(os.Stderr, "harness: unknown tool %q (want cassandra or kubo)\n", args[0])
	return 2
}
