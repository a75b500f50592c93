package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/settings"
)

const clusterUsage = `Usage: harness cluster COMMAND [ARGS]

The process and configuration helpers of the sharness suite (sharness/lib/peers.sh,
whose shell functions call these): ipfs-cluster-service peers, one a config folder DIR.

Peers:
  init DIR [INIT ARGS...]      ipfs-cluster-service --config DIR init --force
                               --datastore $CLUSTER_DATASTORE [ARGS], then loopback only
  init-peer DIR KUBO KS|- [INIT ARGS...]
                               init DIR --randomports [ARGS], use kubo instance KUBO
                               ($TEST_KUBO_DIR/KUBO) and, unless KS is -, keyspace KS
  config-scylla DIR KS [HOSTS [PORT]]
                               .state.scyllastate on KS at HOSTS (comma separated):PORT
                               [$SCYLLASTATE_TEST_HOSTS, $SCYLLASTATE_TEST_PORT]
  config-ipfs DIR API_PORT     use the kubo whose API is 127.0.0.1:API_PORT
  daemon DIR [DAEMON ARGS...]  start the daemon detached: DIR/daemon.pid, DIR/daemon.log
  wait DIR [TIMEOUT]           until GET /id of its REST API answers [$CLUSTER_START_TIMEOUT]
  start DIR [DAEMON ARGS...]   daemon, then wait
  ready DIR [TIMEOUT]          until its log says "IPFS Cluster is READY"
  running DIR                  exit 0 if its daemon runs; else say so, show its log, exit 1
  tail DIR                     the last 60 lines of its log, on stderr
  stop DIR                     SIGTERM, SIGKILL after $CLUSTER_STOP_TIMEOUT s; idempotent
  kill DIR                     SIGKILL (a crash); the folder stays
  port DIR | id DIR | addr DIR the REST API port; the peer ID; /ip4/127.0.0.1/tcp/P/p2p/ID
  tls-cert DIR                 a self-signed certificate for 127.0.0.1 and localhost, valid
                               one day: DIR/server.crt, DIR/server.key
Through ipfs-cluster-ctl (on PATH), against the REST API of the peer in DIR:
  ctl DIR [CTL ARGS...]        ipfs-cluster-ctl --host /ip4/127.0.0.1/tcp/PORT [ARGS]
  status-is DIR CID STATUS     exit 0 if every peer reports STATUS (e.g. pinned) for CID
  status-count DIR | pin-count DIR
                               how many items ctl status lists; how many pins ctl pin ls lists
  has-metric DIR NAME          exit 0 if the peer has a valid metric NAME of its own
  wait-metrics DIR [TIMEOUT [METRIC...]]
                               until the peer has its own METRICs [ping freespace], each
                               within TIMEOUT [20] s (adding or allocating needs them)
Databases:
  db-answers HOST PORT         exit 0 if CQL listens there (2 s), else say how to start it
  secure-db-start              start the script's own Cassandra with auth and mutual TLS
                               ($SECURE_DB_NAME [sharness-secure] on $SECURE_DB_ADDR
                               [127.0.0.5]) unless it runs; print its SECDB_* variables
  secure-db-config DIR KS      point DIR's .state.scyllastate at it: keyspace KS, its
                               superuser and TLS with its CA and client certificate
Session ($TEST_LIB_STATE: what the script started):
  free-port                    a free port on 127.0.0.1, not handed out before
  keyspace                     a fresh keyspace name (sh_...), dropped by reap
  drop-keyspaces KS...         DROP KEYSPACE IF EXISTS (sh_* names only)
  reap                         stop the peers started, the kubos in $TEST_KUBO_DIR, drop
                               the keyspaces handed out, stop the databases started
Processes:
  pid-gone PID [TIMEOUT]       exit 0 once PID has exited (a zombie counts) [5 s]
  pid-is PID WORD              exit 0 if PID runs and WORD is one of its argv words

Environment: CLUSTER_DATASTORE [scylla], CLUSTER_START_TIMEOUT [60],
CLUSTER_STOP_TIMEOUT [30], TEST_LIB_STATE, TEST_KUBO_DIR, KUBO_BIN, TEST_ORIG_HOME [$HOME];
ipfs-cluster-service is found on PATH.
`

// errUsage marks a command line that does not fit the command.
var errUsage = errors.New("usage")

// clusterEnv is what the cluster commands read from the environment.
type clusterEnv struct {
	getenv func(string) string
	root   string
}

func (e clusterEnv) or(k, def string) string {
	if v := e.getenv(k); v != "" {
		return v
	}
	return def
}

// peer is the peer of folder dir with the timeouts of the environment.
func (e clusterEnv) peer(dir string) (*cluster.Peer, error) {
	bin, err := exec.LookPath("ipfs-cluster-service")
	if err != nil {
		return nil, fmt.Errorf("ipfs-cluster-service is not on PATH (make build): %w", err)
	}
	p, err := cluster.NewPeer(dir, bin)
	if err != nil {
		return nil, err
	}
	if p.StartTimeout, err = settings.Seconds(errUsage, "CLUSTER_START_TIMEOUT", e.or("CLUSTER_START_TIMEOUT", "60")); err != nil {
		return nil, err
	}
	if p.StopTimeout, err = settings.Seconds(errUsage, "CLUSTER_STOP_TIMEOUT", e.or("CLUSTER_STOP_TIMEOUT", "30")); err != nil {
		return nil, err
	}
	if s, err := e.session(); err == nil {
		p.Ports = s.FreePort // --randomports: below the ephemeral range, never handed out twice
	}
	return p, nil
}

// session is the script's bookkeeping ($TEST_LIB_STATE).
func (e clusterEnv) session() (*cluster.Session, error) {
	dir := e.getenv("TEST_LIB_STATE")
	if dir == "" {
		return nil, errors.New("TEST_LIB_STATE is not set (sharness/lib/peers.sh sets it)")
	}
	return &cluster.Session{
		Dir:     dir,
		KuboDir: e.getenv("TEST_KUBO_DIR"),
		StopKubo: func(ctx context.Context, name string) error {
			in, err := e.kubo(name, kubo.NoPorts)
			if err != nil {
				return err
			}
			return in.Stop(ctx)
		},
		DropKeyspaces: e.dropKeyspaces,
		StopDatabase:  e.stopDatabase,
	}, nil
}

// home is the HOME of the user who ran the script (sharness moves HOME to
// its trash directory; the caches of cassandra.sh and kubo.sh are there).
func (e clusterEnv) home() string { return e.or("TEST_ORIG_HOME", e.getenv("HOME")) }

// kubo is the instance name in $TEST_KUBO_DIR (its ports as recorded by
// its start), with messages on stdout as kubo.sh writes them.
func (e clusterEnv) kubo(name string, mode kubo.Mode) (*kubo.Instance, error) {
	vars := map[string]string{"KUBO_DIR": e.getenv("TEST_KUBO_DIR"), "KUBO_NAME": name, "HOME": e.home(),
		"KUBO_API_PORT": "", "KUBO_SWARM_PORT": "", "KUBO_GATEWAY_PORT": ""}
	in, err := kubo.Load(cassandra.EnvWith(vars), e.root, mode)
	if err != nil {
		return nil, err
	}
	in.Logf = func(format string, args ...any) { fmt.Printf("kubo.sh[%s]: %s\n", name, fmt.Sprintf(format, args...)) }
	return in, nil
}

// dropKeyspaces drops the sh_* keyspaces through the Cassandra instance
// of scripts/cassandra.sh ($CASSANDRA_NAME [main]).
func (e clusterEnv) dropKeyspaces(ctx context.Context, keyspaces []string) error {
	var stmts []string
	for _, ks := range keyspaces {
		if strings.HasPrefix(ks, "sh_") {
			stmts = append(stmts, "DROP KEYSPACE IF EXISTS "+ks)
		}
	}
	if len(stmts) == 0 {
		return nil
	}
	in, err := cassandra.Load(cassandra.EnvWith(map[string]string{"HOME": e.home()}), cassandra.ForOther)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return in.CQL(ctx, 0, "", stmts, os.Stdout, os.Stderr)
}

// clusterCommand runs one command; args are its arguments.
type clusterCommand struct {
	min  int // arguments at least
	args string
	run  func(ctx context.Context, e clusterEnv, args []string) (int, error)
}

// onPeer is a command on the peer of folder args[0].
func onPeer(run func(ctx context.Context, p *cluster.Peer, args []string) error) func(context.Context, clusterEnv, []string) (int, error) {
	return func(ctx context.Context, e clusterEnv, args []string) (int, error) {
		p, err := e.peer(args[0])
		if err != nil {
			return ok(err)
		}
		return ok(run(ctx, p, args[1:]))
	}
}

// printed is a command that prints one value of the peer.
func printed[T any](get func(p *cluster.Peer) (T, error)) func(context.Context, clusterEnv, []string) (int, error) {
	return onPeer(func(_ context.Context, p *cluster.Peer, _ []string) error {
		v, err := get(p)
		if err == nil {
			fmt.Println(v)
		}
		return err
	})
}

// fromSession is a command that prints a value the session hands out.
func fromSession(get func(s *cluster.Session) (any, error)) func(context.Context, clusterEnv, []string) (int, error) {
	return func(_ context.Context, e clusterEnv, _ []string) (int, error) {
		s, err := e.session()
		if err != nil {
			return ok(err)
		}
		v, err := get(s)
		if err == nil {
			fmt.Println(v)
		}
		return ok(err)
	}
}

// optSeconds reads an optional TIMEOUT argument (none: 0).
func optSeconds(args []string) (time.Duration, error) {
	if len(args) == 0 {
		return 0, nil
	}
	return settings.Seconds(errUsage, "TIMEOUT", args[0])
}

var clusterCommands = map[string]clusterCommand{
	"init": {1, "DIR [INIT ARGS...]", func(ctx context.Context, e clusterEnv, args []string) (int, error) {
		p, err := e.peer(args[0])
		if err != nil {
			return ok(err)
		}
		return ok(p.Init(ctx, e.or("CLUSTER_DATASTORE", "scylla"), args[1:]...))
	}},
	"init-peer":     {3, "DIR KUBO KEYSPACE|- [INIT ARGS...]", initPeer},
	"config-scylla": {2, "DIR KEYSPACE [HOSTS [PORT]]", configScylla},
	"config-ipfs": {2, "DIR API_PORT", onPeer(func(_ context.Context, p *cluster.Peer, args []string) error {
		port, err := settings.Port(errUsage, "API_PORT", args[0])
		if err != nil {
			return err
		}
		return p.Edit(func(c map[string]any) { cluster.UseIPFS(c, port) })
	})},
	"daemon": {1, "DIR [DAEMON ARGS...]", func(_ context.Context, e clusterEnv, args []string) (int, error) {
		p, err := e.startable(args[0])
		if err != nil {
			return ok(err)
		}
		_, err = p.Daemon(args[1:]...)
		return ok(err)
	}},
	"start": {1, "DIR [DAEMON ARGS...]", func(ctx context.Context, e clusterEnv, args []string) (int, error) {
		p, err := e.startable(args[0])
		if err != nil {
			return ok(err)
		}
		return ok(p.Start(ctx, args[1:]...))
	}},
	"wait": {1, "DIR [TIMEOUT]", onPeer(func(ctx context.Context, p *cluster.Peer, args []string) error {
		t, err := optSeconds(args)
		if err != nil {
			return err
		}
		return p.Wait(ctx, t)
	})},
	"ready": {1, "DIR [TIMEOUT]", onPeer(func(ctx context.Context, p *cluster.Peer, args []string) error {
		t, err := optSeconds(args)
		if err != nil {
			return err
		}
		return p.WaitReady(ctx, t)
	})},
	"running": {1, "DIR", onPeer(func(context.Context, *cluster.Peer, []string) error { return nil })},
	"tail": {1, "DIR", onPeer(func(_ context.Context, p *cluster.Peer, _ []string) error {
		p.Tail()
		return nil
	})},
	"stop":      {1, "DIR", onPeer(func(ctx context.Context, p *cluster.Peer, _ []string) error { return p.Stop(ctx) })},
	"kill":      {1, "DIR", onPeer(func(ctx context.Context, p *cluster.Peer, _ []string) error { return p.Kill(ctx) })},
	"port":      {1, "DIR", printed((*cluster.Peer).RESTAPIPort)},
	"id":        {1, "DIR", printed((*cluster.Peer).ID)},
	"addr":      {1, "DIR", printed((*cluster.Peer).Addr)},
	"free-port": {0, "", fromSession(func(s *cluster.Session) (any, error) { return s.FreePort() })},
	"keyspace":  {0, "", fromSession(func(s *cluster.Session) (any, error) { return s.Keyspace() })},
	"drop-keyspaces": {0, "KEYSPACE...", func(ctx context.Context, e clusterEnv, args []string) (int, error) {
		return ok(e.dropKeyspaces(ctx, args))
	}},
	"reap": {0, "", func(ctx context.Context, e clusterEnv, _ []string) (int, error) {
		s, err := e.session()
		if err != nil {
			return ok(err)
		}
		return ok(s.Reap(ctx, e.peer))
	}},
	"pid-gone": {1, "PID [TIMEOUT]", pidGone},
	"pid-is": {2, "PID WORD", func(_ context.Context, _ clusterEnv, args []string) (int, error) {
		if pid, err := strconv.Atoi(args[0]); err == nil && proc.Alive(pid, "", args[1]) {
			return exitOK, nil
		}
		return exitFailed, nil
	}},
}

// startable is the peer of dir, recorded in the session (so that reap
// stops it) when there is one.
func (e clusterEnv) startable(dir string) (*cluster.Peer, error) {
	p, err := e.peer(dir)
	if err != nil {
		return nil, err
	}
	if e.getenv("TEST_LIB_STATE") != "" {
		s, err := e.session()
		if err != nil {
			return nil, err
		}
		if err := s.AddPeer(p.Dir); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// initPeer: init-peer DIR KUBO KEYSPACE|- [INIT ARGS...].
func initPeer(ctx context.Context, e clusterEnv, args []string) (int, error) {
	in, err := e.kubo(args[1], kubo.ForOther)
	if err != nil {
		return ok(err)
	}
	if _, err := os.Stat(filepath.Join(in.Dir, "instance.conf")); err != nil {
		return ok(fmt.Errorf("no API port for kubo instance %s (not started?): %w", args[1], err))
	}
	p, err := e.peer(args[0])
	if err != nil {
		return ok(err)
	}
	if err := p.Init(ctx, e.or("CLUSTER_DATASTORE", "scylla"), append([]string{"--randomports"}, args[3:]...)...); err != nil {
		return ok(err)
	}
	return ok(p.Edit(func(c map[string]any) {
		cluster.UseIPFS(c, in.APIPort)
		if args[2] != "-" {
			cluster.UseScylla(c, args[2], e.hosts(""), e.dbPort(""))
		}
	}))
}

// hosts is the hosts given, else $SCYLLASTATE_TEST_HOSTS [127.0.0.1].
func (e clusterEnv) hosts(given string) []string {
	if given == "" {
		given = e.or("SCYLLASTATE_TEST_HOSTS", "127.0.0.1")
	}
	var out []string
	for _, h := range strings.Split(given, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// dbPort is the port given, else $SCYLLASTATE_TEST_PORT [9042]; a bad
// value is kept as 0 and refused by the peer.
func (e clusterEnv) dbPort(given string) int {
	if given == "" {
		given = e.or("SCYLLASTATE_TEST_PORT", "9042")
	}
	n, _ := strconv.Atoi(given)
	return n
}

// configScylla: config-scylla DIR KEYSPACE [HOSTS [PORT]].
func configScylla(_ context.Context, e clusterEnv, args []string) (int, error) {
	p, err := e.peer(args[0])
	if err != nil {
		return ok(err)
	}
	hosts, port := "", ""
	if len(args) > 2 {
		hosts = args[2]
	}
	if len(args) > 3 {
		port = args[3]
	}
	return ok(p.Edit(func(c map[string]any) { cluster.UseScylla(c, args[1], e.hosts(hosts), e.dbPort(port)) }))
}

// pidGone: pid-gone PID [TIMEOUT].
func pidGone(ctx context.Context, _ clusterEnv, args []string) (int, error) {
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return ok(fmt.Errorf("PID must be a number (got '%s')", args[0]))
	}
	t := 5 * time.Second
	if len(args) > 1 {
		if t, err = settings.Seconds(errUsage, "TIMEOUT", args[1]); err != nil {
			return ok(err)
		}
	}
	err = proc.Poll(ctx, t, proc.FirstPoll, 200*time.Millisecond, func(context.Context) (bool, error) {
		return proc.Exited(pid), nil
	})
	if errors.Is(err, proc.ErrTimeout) {
		return exitFailed, nil
	}
	return ok(err)
}

// clusterMain is `harness cluster COMMAND [ARGS]`.
func clusterMain(ctx context.Context, args []string) int {
	if len(args) == 0 || slices.Contains([]string{"help", "-h", "--help"}, args[0]) {
		fmt.Print(clusterUsage)
		return exitOK
	}
	cmd, args := args[0], args[1:]
	var c clusterCommand
	found := false
	for _, m := range []map[string]clusterCommand{clusterCommands, clusterQueries, clusterSecureDB} {
		if c, found = m[cmd]; found {
			break
		}
	}
	code, err := exitFailed, error(nil)
	switch {
	case !found:
		fmt.Fprint(os.Stderr, clusterUsage)
		err = fmt.Errorf("unknown command '%s'", cmd)
	case len(args) < c.min:
		err = fmt.Errorf("%w: harness cluster %s %s", errUsage, cmd, c.args)
	default:
		code, err = c.run(ctx, clusterEnv{getenv: os.Getenv, root: filepath.Clean(os.Getenv("HARNESS_ROOT"))}, args)
	}
	switch {
	case err == nil:
		return code
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, cluster.ErrNotRunning), errors.Is(err, proc.ErrTimeout) && cmd != "ready":
		return exitFailed // already said, with the end of the log
	}
	fmt.Fprintf(os.Stderr, "harness cluster %s: %v\n", cmd, err)
	return exitFailed
}
