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

// toolArgs splits the command line of a tool into its command (help when
// none) and the command's arguments, and makes a logger to stderr whose
// lines start as the shell script's did ("cassandra.sh[main]: ", the
// instance named by the variable nameVar, else defName).
func toolArgs(args []string, script, nameVar, defName string) (cmd string, rest []string, logf func(string, ...any)) {
	cmd = "help"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	name := os.Getenv(nameVar)
	if name == "" {
		name = defName
	}
	logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s[%s]: %s\n", script, name, fmt.Sprintf(format, a...))
	}
	return cmd, args, logf
}
