package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/settings"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/sharness"
)

const sharnessUsage = `Usage: sharness/run-sharness-tests.sh [TEST.sh...]   (harness sharness [TEST.sh...])

Runs every sharness/t*.sh (or the files given) in place, with trash directories and
test-results/ under sharness/; sums the counts and exits non-zero if a test failed, a
script died or (unless allowed) a test was skipped.

Environment (defaults in brackets):
  SHARNESS_CASSANDRA     auto|1|0 [auto]: start Cassandra as scripts/with-cassandra.sh does
                         (WITH_SECURE [0]) when a selected test calls test_cassandra_require
                         (auto), always (1) or never (0). A running instance is reused.
  SHARNESS_ALLOW_SKIP    1: tests skipped for a missing prerequisite do not fail the run [0]
  SHARNESS_OPTS          options for every test script, e.g. "-v" or "-v -i" []
  SHARNESS_TEST_TIMEOUT  seconds per test script, then SIGTERM (SIGKILL 30 s later) [900]
  SHARNESS_LIB           sharness.sh [/usr/share/sharness/sharness.sh]
`

// sharnessMain is sharness/run-sharness-tests.sh: `harness sharness
// [TEST.sh...]`.
func sharnessMain(ctx context.Context, args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(sharnessUsage)
		return exitOK
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "run-sharness-tests: %s\n", fmt.Sprintf(format, a...))
	}
	die := func(err error) int {
		logf("ERROR: %v", err)
		return exitFailed
	}
	e := clusterEnv{getenv: os.Getenv}
	dir := filepath.Join(filepath.Clean(os.Getenv("HARNESS_ROOT")), "sharness")
	t0, err := sharnessStart(e)
	if err != nil {
		return die(err)
	}
	lib := e.or("SHARNESS_LIB", "/usr/share/sharness/sharness.sh")
	for k, v := range map[string]string{"SHARNESS_LIB": lib, "SHARNESS_T0": strconv.FormatInt(t0.Unix(), 10)} {
		if err := os.Setenv(k, v); err != nil {
			return die(err)
		}
	}
	if _, err := os.Stat(lib); err != nil {
		return die(fmt.Errorf("sharness not found at %s (apt-get install sharness)", lib))
	}
	for _, tool := range []string{"jq", "curl", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			return die(fmt.Errorf("%s is required", tool))
		}
	}
	timeout, err := settings.Seconds(errUsage, "SHARNESS_TEST_TIMEOUT", e.or("SHARNESS_TEST_TIMEOUT", "900"))
	if err != nil {
		return die(err)
	}
	tests, err := sharness.Select(dir, args)
	if err != nil {
		return die(err)
	}
	if e.getenv("SHARNESS_IN_CASSANDRA") == "" {
		need, err := sharnessNeedsCassandra(e.or("SHARNESS_CASSANDRA", "auto"), dir, tests)
		if err != nil {
			return die(err)
		}
		if need {
			return sharnessInCassandra(ctx, logf, tests)
		}
	}
	r := &sharness.Runner{Dir: dir, Timeout: timeout, Opts: strings.Fields(e.getenv("SHARNESS_OPTS")),
		AllowSkip: e.getenv("SHARNESS_ALLOW_SKIP") == "1", Start: t0, Stdout: os.Stdout, Logf: logf}
	code, err := r.Run(ctx, tests)
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case err != nil:
		return die(err)
	}
	return code
}

// sharnessStart is the start of the run: $SHARNESS_T0 (seconds since the
// epoch, set by a run that restarted itself under Cassandra) or now.
func sharnessStart(e clusterEnv) (time.Time, error) {
	v := e.getenv("SHARNESS_T0")
	if v == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SHARNESS_T0 must be seconds since the epoch (got '%s')", v)
	}
	return time.Unix(n, 0), nil
}

// sharnessNeedsCassandra reads SHARNESS_CASSANDRA (mode).
func sharnessNeedsCassandra(mode, dir string, tests []string) (bool, error) {
	switch mode {
	case "1":
		return true, nil
	case "0":
		return false, nil
	case "auto":
		return sharness.NeedsCassandra(dir, tests)
	}
	return false, fmt.Errorf("SHARNESS_CASSANDRA must be auto, 1 or 0 (got '%s')", mode)
}

// sharnessInCassandra runs this command again under with-cassandra, which
// starts the database unless it runs, exports SCYLLASTATE_TEST_HOSTS/PORT
// and stops what it started when the run is done.
func sharnessInCassandra(ctx context.Context, logf func(string, ...any), tests []string) int {
	self, err := os.Executable()
	if err != nil {
		logf("ERROR: %v", err)
		return exitFailed
	}
	logf("starting Cassandra (scripts/with-cassandra.sh)")
	err = os.Setenv("SHARNESS_IN_CASSANDRA", "1")
	if os.Getenv("WITH_SECURE") == "" {
		err = errors.Join(err, os.Setenv("WITH_SECURE", "0"))
	}
	if err != nil {
		logf("ERROR: %v", err)
		return exitFailed
	}
	return withCassandraMain(ctx, append([]string{self, "sharness"}, tests...))
}
