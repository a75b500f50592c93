package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/settings"
)

// ctl is ipfs-cluster-ctl (found on PATH) against the peer of folder dir.
func (e clusterEnv) ctl(dir string) (cluster.Ctl, error) {
	bin, err := exec.LookPath("ipfs-cluster-ctl")
	if err != nil {
		return cluster.Ctl{}, fmt.Errorf("ipfs-cluster-ctl is not on PATH (make build): %w", err)
	}
	p, err := e.peer(dir)
	if err != nil {
		return cluster.Ctl{}, err
	}
	return cluster.Ctl{Peer: p, Bin: bin}, nil
}

// onCtl is a command on ipfs-cluster-ctl against the peer of folder args[0].
func onCtl(run func(ctx context.Context, c cluster.Ctl, args []string) (int, error)) func(context.Context, clusterEnv, []string) (int, error) {
	return func(ctx context.Context, e clusterEnv, args []string) (int, error) {
		c, err := e.ctl(args[0])
		if err != nil {
			return ok(err)
		}
		return run(ctx, c, args[1:])
	}
}

// truth is the exit code of a test command: 0 if yes, else 1.
func truth(yes bool, err error) (int, error) {
	if err == nil && !yes {
		return exitFailed, nil
	}
	return ok(err)
}

// clusterQueries are the commands that ask a peer through ipfs-cluster-ctl.
var clusterQueries = map[string]clusterCommand{
	"ctl": {1, "DIR [CTL ARGS...]", onCtl(func(_ context.Context, c cluster.Ctl, args []string) (int, error) {
		argv, err := c.Args(args...)
		if err != nil {
			return ok(err)
		}
		return ok(syscall.Exec(argv[0], argv, os.Environ()))
	})},
	"status-is": {3, "DIR CID STATUS", onCtl(func(ctx context.Context, c cluster.Ctl, args []string) (int, error) {
		return truth(c.StatusIs(ctx, args[0], args[1]))
	})},
	"status-count": {1, "DIR", onCtl(func(ctx context.Context, c cluster.Ctl, _ []string) (int, error) {
		return printedCount(c.Count(ctx, "status"))
	})},
	"pin-count": {1, "DIR", onCtl(func(ctx context.Context, c cluster.Ctl, _ []string) (int, error) {
		return printedCount(c.Count(ctx, "pin", "ls"))
	})},
	"has-metric": {2, "DIR NAME", onCtl(func(ctx context.Context, c cluster.Ctl, args []string) (int, error) {
		has, _ := c.HasMetric(ctx, args[0]) // a failed call is a no
		return truth(has, nil)
	})},
	"wait-metrics": {1, "DIR [TIMEOUT [METRIC...]]", onCtl(func(ctx context.Context, c cluster.Ctl, args []string) (int, error) {
		t := 20 * time.Second
		if len(args) > 0 {
			var err error
			if t, err = settings.Seconds(errUsage, "TIMEOUT", args[0]); err != nil {
				return ok(err)
			}
			args = args[1:]
		}
		return ok(c.WaitMetrics(ctx, t, args...))
	})},
	"tls-cert": {1, "DIR", func(_ context.Context, _ clusterEnv, args []string) (int, error) {
		return ok(cluster.WriteTLSCert(args[0]))
	}},
	"db-answers": {2, "HOST PORT", func(ctx context.Context, _ clusterEnv, args []string) (int, error) {
		port, err := strconv.Atoi(args[1])
		if err == nil && proc.TCPOpen(ctx, args[0], port, 2*time.Second) {
			return exitOK, nil
		}
		return ok(fmt.Errorf("nothing listens on %s:%s: start it with scripts/cassandra.sh start "+
			"(sharness/run-sharness-tests.sh does) or set SCYLLASTATE_TEST_HOSTS/PORT", args[0], args[1]))
	}},
}

// printedCount prints n.
func printedCount(n int, err error) (int, error) {
	if err == nil {
		fmt.Println(n)
	}
	return ok(err)
}
