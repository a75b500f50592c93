// Command harness is the command line of the test harness
// (internal/harness): `harness cassandra COMMAND` is scripts/cassandra.sh,
// `harness kubo COMMAND` is scripts/kubo.sh, `harness cluster COMMAND`
// does the work of the helpers of sharness/lib/peers.sh, `harness demo`
// is `make demo`, `harness with-cassandra CMD...` is
// scripts/with-cassandra.sh, `harness deps COMMAND` is scripts/deps.sh,
// `harness sharness [TEST.sh...]` is sharness/run-sharness-tests.sh, and
// `harness path` prints where this binary
// is (so that a caller runs it without scripts/harness.sh each time).
// scripts/harness.sh builds it once per source version into the cache dir
// and runs it.
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
		fmt.Fprintln(os.Stderr, "usage: harness cassandra|kubo|cluster|deps COMMAND [ARGS] | demo | with-cassandra CMD... | sharness [TEST.sh...] | path")
		return 2
	}
	switch args[0] {
	case "cassandra":
		return cassandraMain(ctx, args[1:])
	case "kubo":
		return kuboMain(ctx, args[1:])
	case "cluster":
		return clusterMain(ctx, args[1:])
	case "demo":
		return demoMain(ctx, args[1:])
	case "with-cassandra":
		return withCassandraMain(ctx, args[1:])
	case "deps":
		return depsMain(ctx, args[1:])
	case "sharness":
		return sharnessMain(ctx, args[1:])
	case "path":
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "harness path:", err)
			return exitFailed
		}
		fmt.Println(self)
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "harness: unknown tool %q (want cassandra, kubo, cluster, deps, demo, with-cassandra, sharness or path)\n", args[0])
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
