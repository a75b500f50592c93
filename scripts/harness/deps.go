package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/deps"
)

const depsUsage = `What ` + "`make demo`" + ` and ` + "`make test`" + ` need on this machine, checked and installed.

  scripts/deps.sh install     install the missing Debian packages (as root; otherwise print
                              the one ` + "`sudo apt-get install ...`" + ` line and fail), then check
                              Go (>= go.mod's) and OpenJDK 17            (` + "`make deps`" + `)
  scripts/deps.sh check       the same checks, installing nothing
  scripts/deps.sh preflight [test|demo]
                              before the long part of ` + "`make test`" + ` (or ` + "`make demo`" + `): the
                              above, sharness present, the database ports free or ours,
                              disk space, Cassandra's jars cached or fetched now
  scripts/deps.sh built       kubo and the cluster binaries are built (bin/) and run

Environment: CASSANDRA_JAVA (the java of scripts/cassandra.sh), DEPS_MIN_FREE_MB [2048],
DEPS_BIN_DIR [<repo>/bin] (where make build and make kubo put the binaries).
`

// depsMain is scripts/deps.sh (internal/harness/deps): install (the
// default), check, preflight [test|demo], built, help. A failed check
// exits 1 with "deps.sh: ERROR: ..." on stderr.
func depsMain(ctx context.Context, args []string) int {
	cmd := "install"
	if len(args) > 0 {
		cmd = args[0]
	}
	d := deps.New(filepath.Clean(os.Getenv("HARNESS_ROOT")))
	var err error
	switch cmd {
	case "install":
		if err = d.Install(ctx); err == nil {
			err = d.CheckAll(ctx)
		}
	case "check":
		err = d.CheckAll(ctx)
	case "preflight":
		what := "test"
		if len(args) > 1 {
			what = args[1]
		}
		err = d.Preflight(ctx, what)
	case "built":
		err = d.Built(ctx)
	case "help", "-h", "--help":
		fmt.Print(depsUsage)
	default:
		err = fmt.Errorf("unknown command '%s' (install, check, preflight [test|demo], built, help)", cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		d.Logf("ERROR: interrupted: %v", err)
		return exitInterrupted
	case !errors.Is(err, deps.ErrNeedsRoot): // that one has said what to run
		d.Logf("ERROR: %v", err)
	}
	return exitFailed
}
