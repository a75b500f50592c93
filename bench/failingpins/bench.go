package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/pinset"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// Timeouts of the steps.
const (
	importTimeout = time.Hour        // state import of N pins
	readyTimeout  = 30 * time.Minute // from the daemon's start to its READY line
	stopTimeout   = time.Minute      // SIGTERM to SIGKILL of a daemon
	dropTimeout   = 2 * time.Minute  // DROP KEYSPACE
	idleAfter     = 60 * time.Second // the wait before the last measures
)

// bench is one run: mode (scylla or crdt), n pins, in dir.
type bench struct {
	mode, keyspace string
	n              int
	timeout        time.Duration // to wait for all n in error
	stored         bool          // seed n stored errors instead of failing n pins
	bin, dir       string

	summary     io.Writer     // dir/summary.txt
	peer        *cluster.Peer // its folder
	daemon      *proc.Proc    // its daemon
	ctl         cluster.Ctl
	metricsPort int
}

// run is the whole benchmark; the daemons it starts belong to a
// proc.Group: they are stopped when it returns, also on failure or Ctrl-C,
// and die with it if it is killed.
func (b *bench) run(ctx context.Context) error {
	if err := os.RemoveAll(b.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	summary, err := os.Create(filepath.Join(b.dir, "summary.txt"))
	if err != nil {
		return err
	}
	defer summary.Close()
	b.summary = summary

	var g proc.Group
	defer func() { _ = g.StopAll(stopTimeout) }()
	ipfs, err := kubo.StartOffline(ctx, &g, filepath.Join(b.bin, "ipfs"), filepath.Join(b.dir, "kubo"))
	if err != nil {
		return err
	}
	pins := filepath.Join(b.dir, "pins.ndjson")
	if err := pinset.WriteNDJSON(pins, b.series(), b.n); err != nil {
		return err
	}
	db, err := b.initPeer(ctx, ipfs.APIPort)
	if err != nil {
		return err
	}
	if db != nil {
		defer b.dropKeyspace(context.WithoutCancel(ctx), db)
	}
	defer b.stopPeer() // before the keyspace is dropped

	t0 := time.Now()
	if b.stored {
		if err := b.seedErrors(ctx, db); err != nil {
			return err
		}
	} else if _, err := proc.RunCLI(ctx, importTimeout, filepath.Join(b.dir, "import.log"), nil, b.peer.Bin,
		"--config", b.peer.Dir, "state", "import", "--force", pins); err != nil {
		return err
	} else {
		b.logf("%s N=%d import: %s", b.mode, b.n, secs(time.Since(t0)))
	}

	t0 = time.Now()
	if b.daemon, err = g.Start("peer", b.peer.LogFile(), nil, b.peer.Bin, "--config", b.peer.Dir, "daemon", "--stats"); err != nil {
		return err
	}
	ready := proc.NewLogWatch(b.peer.LogFile(), cluster.ReadyLine)
	if err := proc.WaitFor(ctx, readyTimeout, b.daemon, func(context.Context) bool { return ready.Found() }); err != nil {
		return fmt.Errorf("peer not ready (log: %s): %w", b.peer.LogFile(), err)
	}
	b.logf("ready after %s", secs(time.Since(t0)))
	if err := b.waitAllInError(ctx, t0); err != nil {
		return err
	}
	if err := b.measure(ctx); err != nil {
		return err
	}
	b.logf("repair slice lines: %d", countLines(b.peer.LogFile(), "repair of pinset slice"))
	return nil
}

// series names the run's pinset (internal/harness/pinset).
func (b *bench) series() string { return fmt.Sprintf("%s-%d", b.mode, b.n) }

// initPeer makes the peer's folder (ours: scylla, keyspace fpbench_scylla_N
// on the instance of scripts/cassandra.sh, returned; upstream: crdt on
// pebble) with random ports on loopback, using the kubo of apiPort and
// serving its metrics on a free port.
func (b *bench) initPeer(ctx context.Context, apiPort int) (*cassandra.Instance, error) {
	svc, datastore, args := filepath.Join(b.bin, "ipfs-cluster-service"), "scylla", []string{"--randomports"}
	if b.mode == "crdt" {
		svc, datastore = filepath.Join(b.bin, "upstream", "ipfs-cluster-service"), "pebble"
		args = append(args, "--consensus", "crdt")
	}
	peer, err := cluster.NewPeer(filepath.Join(b.dir, "peer"), svc)
	if err != nil {
		return nil, err
	}
	b.peer, b.ctl = peer, cluster.Ctl{Peer: peer, Bin: filepath.Join(b.bin, "ipfs-cluster-ctl")}
	if err := peer.Init(ctx, datastore, args...); err != nil {
		return nil, err
	}
	if b.metricsPort, err = proc.FreePort(); err != nil {
		return nil, err
	}
	var db *cassandra.Instance
	if b.mode == "scylla" {
		if db, err = cassandra.Load(os.Getenv, cassandra.ForOther); err != nil {
			return nil, err
		}
	}
	return db, peer.Edit(func(c map[string]any) {
		cluster.UseIPFS(c, apiPort)
		jsonconf.Set(c, "observations.metrics.prometheus_endpoint", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", b.metricsPort))
		if db != nil {
			cluster.UseScylla(c, b.keyspace, db.Hosts, db.Port)
		}
	})
}

// stopPeer stops the peer's daemon if it was started (SIGTERM, SIGKILL
// after stopTimeout).
func (b *bench) stopPeer() {
	if b.daemon == nil {
		return
	}
	b.logf("stopping the peer (pid %d)", b.daemon.PID())
	if err := b.daemon.Stop(stopTimeout); err != nil {
		b.logf("stopping the peer: %v", err)
	}
}

// dropKeyspace deletes the run's keyspace.
func (b *bench) dropKeyspace(ctx context.Context, db *cassandra.Instance) {
	ctx, cancel := context.WithTimeout(ctx, dropTimeout)
	defer cancel()
	if err := db.CQL(ctx, 0, "", []string{"DROP KEYSPACE IF EXISTS " + b.keyspace}, io.Discard, os.Stderr); err != nil {
		b.logf("DROP KEYSPACE %s: %v", b.keyspace, err)
	}
}
