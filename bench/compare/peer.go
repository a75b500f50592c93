package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// readyLine is what ipfs-cluster-service logs once the peer is ready.
const readyLine = "IPFS Cluster is READY"

// peer is one ipfs-cluster-service configuration folder (and its daemon
// when it runs), driven only through its binary and its REST API.
type peer struct {
	be       *backend
	name     string
	dir      string
	kubo     *kubo.Daemon
	id       string
	addr     string // /ip4/127.0.0.1/tcp/PORT/p2p/ID, for --bootstrap
	restPort int
	// metricsPort serves the peer's Prometheus metrics (0: off; see
	// enableMetrics).
	metricsPort int
	proc        *proc.Proc
	ready       *proc.LogWatch
}

// peerSettings are the parts of service.json the harness sets.
type peerSettings struct {
	Secret       string
	Keyspace     string // for backends on the database
	DBHosts      []string
	DBPort       int
	SyncInterval time.Duration // cluster.state_sync_interval
}

var tcpPort = regexp.MustCompile(`/tcp/([0-9]+)`)

// initPeer runs `init` for the backend in dir and points the
// configuration at k (its kubo) and, for ours, at the database.
func initPeer(ctx context.Context, be *backend, name, dir string, k *kubo.Daemon, s peerSettings) (*peer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"-c", dir, "init"}, be.InitArgs...)
	args = append(args, "--randomports", "--force")
	if _, err := proc.RunCLI(ctx, time.Minute, filepath.Join(dir, "init.log"), nil, be.Bin, args...); err != nil {
		return nil, fmt.Errorf("%s init: %w", be.Name, err)
	}
	p := &peer{be: be, name: name, dir: dir, kubo: k}
	kuboAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", k.APIPort)
	// The harness picks the listen ports (see freePort): init's random
	// ones may collide with outgoing connections of other peers.
	var listen [4]int
	for i := range listen {
		port, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		listen[i] = port
	}
	tcp := func(port int) string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port) }
	err := jsonconf.Edit(filepath.Join(dir, "service.json"), func(c map[string]any) {
		jsonconf.Set(c, "cluster.secret", s.Secret)
		jsonconf.Set(c, "cluster.peername", name)
		jsonconf.Set(c, "cluster.listen_multiaddress", []string{tcp(listen[0])})
		jsonconf.Set(c, "api.restapi.http_listen_multiaddress", tcp(listen[1]))
		if jsonconf.Get(c, "api.pinsvcapi") != nil {
			jsonconf.Set(c, "api.pinsvcapi.http_listen_multiaddress", tcp(listen[2]))
		}
		if jsonconf.Get(c, "api.ipfsproxy") != nil {
			jsonconf.Set(c, "api.ipfsproxy.listen_multiaddress", tcp(listen[3]))
		}
		jsonconf.Set(c, "cluster.mdns_interval", "0s")
		jsonconf.Set(c, "cluster.enable_relay_hop", false)
		jsonconf.Set(c, "cluster.state_sync_interval", s.SyncInterval.String())
		jsonconf.Set(c, "ipfs_connector.ipfshttp.node_multiaddress", kuboAddr)
		if jsonconf.Get(c, "api.ipfsproxy") != nil {
			jsonconf.Set(c, "api.ipfsproxy.node_multiaddress", kuboAddr)
		}
		if be.UsesDB {
			jsonconf.Set(c, "state.scyllastate.hosts", s.DBHosts)
			jsonconf.Set(c, "state.scyllastate.port", s.DBPort)
			jsonconf.Set(c, "state.scyllastate.keyspace", s.Keyspace)
		}
	})
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := jsonconf.Read(filepath.Join(dir, "service.json"), &cfg); err != nil {
		return nil, err
	}
	if p.restPort, err = portOf(jsonconf.Get(cfg, "api.restapi.http_listen_multiaddress")); err != nil {
		return nil, fmt.Errorf("%s: api.restapi.http_listen_multiaddress: %w", dir, err)
	}
	swarm, err := portOf(jsonconf.Get(cfg, "cluster.listen_multiaddress"))
	if err != nil {
		return nil, fmt.Errorf("%s: cluster.listen_multiaddress: %w", dir, err)
	}
	var ident struct{ ID string }
	if err := jsonconf.Read(filepath.Join(dir, "identity.json"), &ident); err != nil {
		return nil, err
	}
	p.id = ident.ID
	p.addr = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", swarm, p.id)
	return p, nil
}

// portOf is the TCP port of a multiaddress (or of the first one of a list).
func portOf(v any) (int, error) {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case []any:
		for _, e := range t {
			if str, ok := e.(string); ok && tcpPort.MatchString(str) {
				s = str
				break
			}
		}
	}
	m := tcpPort.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no /tcp/ port in %v", v)
	}
	return strconv.Atoi(m[1])
}

// start starts the daemon (extra args such as --bootstrap ADDR).
func (p *peer) start(ps *proc.Group, args ...string) error {
	if p.proc != nil && !p.proc.Exited() {
		return fmt.Errorf("%s already runs", p.name)
	}
	logPath := filepath.Join(p.dir, fmt.Sprintf("daemon-%d.log", time.Now().UnixNano()))
	pr, err := ps.Start(p.be.Name+" "+p.name, logPath, nil, p.be.Bin, append([]string{"-c", p.dir, "daemon"}, args...)...)
	if err != nil {
		return err
	}
	p.proc = pr
	p.ready = proc.NewLogWatch(logPath, readyLine)
	return nil
}

// waitReady waits for the ready log line and returns the time from the
// start to it, read from the line's own timestamp (millisecond
// resolution); if that cannot be read, the time it was seen (within a
// few ms, see waitFor).
func (p *peer) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	err := proc.WaitFor(ctx, timeout, p.proc, func(context.Context) bool { return p.ready.Found() })
	seen := time.Since(p.proc.Started)
	if err != nil {
		return 0, fmt.Errorf("%s: waiting for %q: %w", p.name, readyLine, err)
	}
	return p.loggedSinceStart(readyLine, seen), nil
}

// loggedSinceStart is the time from the daemon's start to the first log
// line holding needle, by the line's timestamp, or def if it cannot be
// read.
func (p *peer) loggedSinceStart(needle string, def time.Duration) time.Duration {
	t, err := firstLogTime(p.proc.LogPath, needle)
	if err != nil {
		logf("warning: %s: %v: using the time it was seen", p.name, err)
		return def
	}
	d, ok := sinceStart(p.proc.Started, t)
	if !ok {
		logf("warning: %s: %q logged at %s, before the start at %s: using the time it was seen",
			p.name, needle, t.Format(time.RFC3339Nano), p.proc.Started.Format(time.RFC3339Nano))
		return def
	}
	return d
}

// stop stops the daemon (SIGTERM, SIGKILL after 60 s).
func (p *peer) stop() error {
	if p.proc == nil {
		return nil
	}
	err := p.proc.Stop(60 * time.Second)
	p.proc = nil
	return err
}

// cli runs `ipfs-cluster-service -c DIR ARGS...` to completion.
func (p *peer) cli(ctx context.Context, timeout time.Duration, logName string, args ...string) (proc.CLIResult, error) {
	return proc.RunCLI(ctx, timeout, filepath.Join(p.dir, logName), nil, p.be.Bin, append([]string{"-c", p.dir}, args...)...)
}

// enableMetrics has the peer serve its Prometheus metrics on a free port
// (upstream's enable_stats, and the store's metrics for ours) from its
// next start.
func (p *peer) enableMetrics() error {
	port, err := proc.FreePort()
	if err != nil {
		return err
	}
	err = jsonconf.Edit(filepath.Join(p.dir, "service.json"), func(c map[string]any) {
		jsonconf.Set(c, "observations.metrics.enable_stats", true)
		jsonconf.Set(c, "observations.metrics.prometheus_endpoint", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
		if p.be.UsesDB {
			jsonconf.Set(c, "state.scyllastate.metrics_enabled", true)
		}
	})
	if err != nil {
		return fmt.Errorf("%s: enabling metrics: %w", p.name, err)
	}
	p.metricsPort = port
	return nil
}
