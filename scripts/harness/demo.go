package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

const demoUsage = `Usage: scripts/harness.sh demo   (make demo)

A local Scylla-backed cluster, end to end: starts Apache Cassandra (scripts/cassandra.sh)
unless it runs, three kubo daemons and three ipfs-cluster-service peers sharing one
keyspace, adds and pins a file through ipfs-cluster-ctl, shows ` + "`peers ls`" + `, ` + "`status`" + ` and
the metrics, then stops everything it started (also on Ctrl-C or an error).

Environment: DEMO_DIR [/tmp/ipfs-cluster-scylla-demo], DEMO_BIN_DIR (ipfs-cluster-service,
ipfs-cluster-ctl, ipfs) [<repo>/bin], DEMO_WAIT=1 waits for Enter before stopping (default:
when stdin is a terminal), which keeps the cluster and its metrics URL up. NO_COLOR: no bold
headings.
`

// demoPeers is how many kubo daemons and cluster peers the demo runs.
const demoPeers = 3

// metricLine starts the lines of the store's metrics that the demo shows.
const metricLine = "ipfscluster_scyllastate_operation_duration_seconds_count"

// demo is one run of `make demo`.
type demo struct {
	dir, bin string
	helpers  io.Writer // what the helpers say about processes (helpers.log)
	bold     bool
	session  *cluster.Session
	peers    []*cluster.Peer
	kubos    []*kubo.Instance
	db       *cassandra.Instance // started by the demo (nil: reused)
}

func (d *demo) step(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if d.bold {
		fmt.Printf("\n\033[1m== %s\033[0m\n", s)
		return
	}
	fmt.Printf("\n== %s\n", s)
}

// demoMain is `harness demo`: make demo.
func demoMain(ctx context.Context, args []string) int {
	if len(args) > 0 {
		fmt.Print(demoUsage)
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			return exitOK
		}
		return 2
	}
	root := filepath.Clean(os.Getenv("HARNESS_ROOT"))
	dir, err := filepath.Abs(envOr("DEMO_DIR", "/tmp/ipfs-cluster-scylla-demo"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: DEMO_DIR: %v\n", err)
		return exitFailed
	}
	d := &demo{
		dir:  dir,
		bin:  envOr("DEMO_BIN_DIR", filepath.Join(root, "bin")),
		bold: term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("NO_COLOR") == "",
	}
	wait := os.Getenv("DEMO_WAIT") == "1" || (os.Getenv("DEMO_WAIT") == "" && term.IsTerminal(int(os.Stdin.Fd())))
	if err := os.RemoveAll(d.dir); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return exitFailed
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return exitFailed
	}
	helpers, err := os.OpenFile(filepath.Join(d.dir, "helpers.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return exitFailed
	}
	defer helpers.Close()
	d.helpers = helpers
	err = d.run(ctx, root, wait)
	d.stop()
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "interrupted; logs in %s\n", d.dir)
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo: %v\ndemo failed (exit 1); logs in %s\n", err, d.dir)
		return exitFailed
	}
	return exitOK
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// stop stops what the demo started: the peers, the kubos, its keyspace,
// and Cassandra if it started it.
func (d *demo) stop() {
	d.step("stopping what the demo started")
	ctx := context.Background()
	if d.session != nil {
		if err := d.session.Reap(ctx, func(dir string) (*cluster.Peer, error) { return d.peer(dir) }); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
	}
	if d.db != nil {
		if err := d.db.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
	}
}

func (d *demo) logf(format string, args ...any) { fmt.Fprintf(d.helpers, format+"\n", args...) }

// peer is the peer of folder dir, its messages in helpers.log.
func (d *demo) peer(dir string) (*cluster.Peer, error) {
	p, err := cluster.NewPeer(dir, filepath.Join(d.bin, "ipfs-cluster-service"))
	if err != nil {
		return nil, err
	}
	p.Logf = d.logf
	if d.session != nil {
		p.Ports = d.session.FreePort
	}
	return p, nil
}

func (d *demo) run(ctx context.Context, root string, wait bool) error {
	db, err := d.database(ctx)
	if err != nil {
		return err
	}
	d.session = &cluster.Session{Dir: filepath.Join(d.dir, ".state"), KuboDir: filepath.Join(d.dir, "kubo"),
		StopKubo: func(ctx context.Context, name string) error {
			for _, k := range d.kubos {
				if k.Name == name {
					return k.Stop(ctx)
				}
			}
			return nil
		},
		DropKeyspaces: func(ctx context.Context, keyspaces []string) error {
			var stmts []string
			for _, ks := range keyspaces {
				stmts = append(stmts, "DROP KEYSPACE IF EXISTS "+ks)
			}
			return db.CQL(ctx, 0, "", stmts, d.helpers, d.helpers)
		},
	}
	ks, err := d.session.Keyspace()
	if err != nil {
		return err
	}
	fmt.Printf("keyspace for this demo: %s (dropped at the end)\n", ks)
	if err := d.startKubos(ctx, root); err != nil {
		return err
	}
	metricsPort, err := d.initPeers(ctx, db, ks)
	if err != nil {
		return err
	}
	if err := d.startPeers(ctx); err != nil {
		return err
	}
	cid, err := d.pinAFile(ctx)
	if err != nil {
		return err
	}
	if err := d.showPinset(ctx, cid); err != nil {
		return err
	}
	d.showMetrics(ctx, metricsPort, wait)
	if !wait {
		return nil
	}
	port, err := d.peers[0].RESTAPIPort()
	if err != nil {
		return err
	}
	d.step("the cluster is running; try: bin/ipfs-cluster-ctl --host /ip4/127.0.0.1/tcp/%d status", port)
	return waitForEnter(ctx)
}

// database starts Cassandra's main instance unless it runs.
func (d *demo) database(ctx context.Context) (*cassandra.Instance, error) {
	d.step("Cassandra on 127.0.0.1:9042")
	plain := testDatabases()[0]
	in, err := plain.load(cassandra.ForOther)
	if err != nil {
		return nil, err
	}
	if _, running := in.Status(ctx); running {
		fmt.Println("already running: reused (and left running)")
		return in, nil
	}
	if in, err = plain.load(cassandra.ForStart); err != nil {
		return nil, err
	}
	if err := in.Start(ctx); err != nil {
		return nil, err
	}
	d.db = in
	return in, nil
}

func (d *demo) startKubos(ctx context.Context, root string) error {
	d.step("three kubo daemons (throwaway repos, loopback only)")
	for i := range demoPeers {
		api, err := d.session.FreePort()
		if err != nil {
			return err
		}
		swarm, err := d.session.FreePort()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("kubo%d", i)
		vars := map[string]string{"KUBO_DIR": d.session.KuboDir, "KUBO_NAME": name, "KUBO_BIN": filepath.Join(d.bin, "ipfs"),
			"KUBO_API_PORT": fmt.Sprint(api), "KUBO_SWARM_PORT": fmt.Sprint(swarm), "KUBO_GATEWAY_PORT": "off"}
		in, err := kubo.Load(cassandra.EnvWith(vars), root, kubo.ForStart)
		if err != nil {
			return err
		}
		in.Logf = func(format string, args ...any) { d.logf("kubo.sh[%s]: %s", name, fmt.Sprintf(format, args...)) }
		in.Tails = d.helpers
		d.kubos = append(d.kubos, in)
		if err := in.Start(ctx); err != nil {
			return fmt.Errorf("kubo %s: %w", name, err)
		}
		fmt.Printf("%s: API on 127.0.0.1:%d\n", name, api)
	}
	return nil
}

// initPeers makes the three peers' folders on one keyspace; peer0 serves
// the Prometheus metrics on the port returned.
func (d *demo) initPeers(ctx context.Context, db *cassandra.Instance, ks string) (int, error) {
	d.step("three cluster peers: init --datastore scylla, one keyspace")
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return 0, err
	}
	if err := os.Setenv("CLUSTER_SECRET", hex.EncodeToString(secret[:])); err != nil {
		return 0, err
	}
	metricsPort, err := d.session.FreePort()
	if err != nil {
		return 0, err
	}
	for i, k := range d.kubos {
		p, err := d.peer(filepath.Join(d.dir, fmt.Sprintf("peer%d", i)))
		if err != nil {
			return 0, err
		}
		d.peers = append(d.peers, p)
		if err := p.Init(ctx, "scylla", "--randomports"); err != nil {
			return 0, err
		}
		err = p.Edit(func(c map[string]any) {
			cluster.UseScylla(c, ks, db.Hosts, db.Port)
			cluster.UseIPFS(c, k.APIPort)
			jsonconf.Set(c, "cluster.peername", fmt.Sprintf("peer%d", i))
			jsonconf.Set(c, "state.scyllastate.metrics_enabled", true)
			if i == 0 {
				jsonconf.Set(c, "observations.metrics.enable_stats", true)
				jsonconf.Set(c, "observations.metrics.prometheus_endpoint", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", metricsPort))
			}
		})
		if err != nil {
			return 0, err
		}
	}
	return metricsPort, d.showStoreConfig()
}

// showStoreConfig prints the store's settings of peer0 (hosts, port,
// keyspace, consistency), as jq would.
func (d *demo) showStoreConfig() error {
	var c map[string]any
	if err := jsonconf.Read(d.peers[0].ConfigFile(), &c); err != nil {
		return err
	}
	get := func(k string) any { return jsonconf.Get(c, "state.scyllastate."+k) }
	out, err := json.MarshalIndent(struct {
		Hosts       any `json:"hosts"`
		Port        any `json:"port"`
		Keyspace    any `json:"keyspace"`
		Consistency any `json:"consistency"`
	}{get("hosts"), get("port"), get("keyspace"), get("consistency")}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// startPeers starts peer0, the others bootstrapped to it, and waits until
// all are ready, see each other and have their metrics (allocation needs
// every peer's ping and freespace, as upstream).
func (d *demo) startPeers(ctx context.Context) error {
	start := func(p *cluster.Peer, args ...string) error {
		if err := d.session.AddPeer(p.Dir); err != nil {
			return err
		}
		return p.Start(ctx, args...)
	}
	if err := start(d.peers[0]); err != nil {
		return err
	}
	addr, err := d.peers[0].Addr()
	if err != nil {
		return err
	}
	for _, p := range d.peers[1:] {
		if err := start(p, "--bootstrap", addr); err != nil {
			return err
		}
	}
	for _, p := range d.peers {
		if err := p.WaitReady(ctx, time.Minute); err != nil {
			return err
		}
	}
	if err := d.until(ctx, "3 peers in peers ls", func(ctx context.Context) bool {
		v, err := d.ctlJSON(ctx, d.peers[0], "peers", "ls")
		return err == nil && len(v) == demoPeers
	}); err != nil {
		return err
	}
	for _, p := range d.peers {
		id, err := p.ID()
		if err != nil {
			return err
		}
		for _, m := range []string{"ping", "freespace"} {
			if err := d.until(ctx, m+" metric of "+filepath.Base(p.Dir), func(ctx context.Context) bool { return d.hasMetric(ctx, p, id, m) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasMetric tells whether the peer has a valid metric of its own.
func (d *demo) hasMetric(ctx context.Context, p *cluster.Peer, id, metric string) bool {
	v, err := d.ctlJSON(ctx, p, "health", "metrics", metric)
	if err != nil || len(v) != 1 {
		return false
	}
	var ms []struct {
		Peer  string `json:"peer"`
		Valid bool   `json:"valid"`
	}
	if json.Unmarshal(v[0], &ms) != nil {
		return false
	}
	for _, m := range ms {
		if m.Peer == id && m.Valid {
			return true
		}
	}
	return false
}

// until polls cond (every 0.5 s at most) for up to a minute.
func (d *demo) until(ctx context.Context, what string, cond func(context.Context) bool) error {
	err := proc.Poll(ctx, time.Minute, 100*time.Millisecond, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// ctl runs ipfs-cluster-ctl against the peer's REST API, output to
// stdout (or into out).
func (d *demo) ctl(ctx context.Context, p *cluster.Peer, out io.Writer, args ...string) error {
	port, err := p.RESTAPIPort()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "ipfs-cluster-ctl"),
		append([]string{"--host", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}, args...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = d.dir, out, os.Stderr
	if out == nil {
		cmd.Stdout = os.Stdout
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ipfs-cluster-ctl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// ctlJSON runs `ipfs-cluster-ctl --enc=json ARGS` and returns the JSON
// values it printed.
func (d *demo) ctlJSON(ctx context.Context, p *cluster.Peer, args ...string) ([]json.RawMessage, error) {
	var out bytes.Buffer
	if err := d.ctl(ctx, p, &out, append([]string{"--enc=json"}, args...)...); err != nil {
		return nil, err
	}
	var vals []json.RawMessage
	dec := json.NewDecoder(&out)
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return vals, nil
		} else if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
}

// pinAFile adds a file through peer0 and waits until every peer pinned it.
func (d *demo) pinAFile(ctx context.Context) (string, error) {
	d.step("ipfs-cluster-ctl peers ls (through peer0)")
	if err := d.ctl(ctx, d.peers[0], nil, "peers", "ls"); err != nil {
		return "", err
	}
	d.step("ipfs-cluster-ctl add: a file pinned by every peer")
	hello := fmt.Sprintf("hello from ipfs-cluster-scylla, %s\n", time.Now().UTC().Format("Mon Jan _2 15:04:05 MST 2006"))
	if err := os.WriteFile(filepath.Join(d.dir, "hello.txt"), []byte(hello), 0o644); err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := d.ctl(ctx, d.peers[0], &out, "add", "-q", "--name", "demo-file", "hello.txt"); err != nil {
		return "", err
	}
	cid := strings.TrimSpace(out.String())
	fmt.Println("added", cid)
	return cid, d.until(ctx, cid+" pinned on every peer", func(ctx context.Context) bool {
		v, err := d.ctlJSON(ctx, d.peers[0], "status", cid)
		if err != nil || len(v) != 1 {
			return false
		}
		var st struct {
			PeerMap map[string]struct {
				Status string `json:"status"`
			} `json:"peer_map"`
		}
		if json.Unmarshal(v[0], &st) != nil || len(st.PeerMap) == 0 {
			return false
		}
		for _, s := range st.PeerMap {
			if s.Status != "pinned" {
				return false
			}
		}
		return true
	})
}

// showPinset shows the file's status, and the pinset from peer2 and kubo2.
func (d *demo) showPinset(ctx context.Context, cid string) error {
	d.step("ipfs-cluster-ctl status %s", cid)
	if err := d.ctl(ctx, d.peers[0], nil, "status", cid); err != nil {
		return err
	}
	d.step("the shared pinset, seen from peer2 and from kubo2")
	if err := d.ctl(ctx, d.peers[2], nil, "pin", "ls"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	k := d.kubos[2]
	cmd := exec.CommandContext(ctx, k.Bin, "--repo-dir="+k.Repo, "pin", "ls", "--type=recursive", cid)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ipfs pin ls on kubo2: %w", err)
	}
	return nil
}

// showMetrics prints the store's operation counts that peer0 serves to
// Prometheus (once the first scrape has them, 40 s at most).
func (d *demo) showMetrics(ctx context.Context, port int, wait bool) {
	d.step("metrics")
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	fmt.Printf("Prometheus metrics of peer0: %s\n", url)
	if wait {
		fmt.Println("(it answers until you press Enter at the end of the demo)")
	} else {
		fmt.Println("(it answers only while the demo runs, which stops everything at its end:")
		fmt.Println(" DEMO_WAIT=1 make demo keeps the cluster and this URL up until you press Enter)")
	}
	fmt.Println("(enabled by observations.metrics.enable_stats, or daemon --stats; store metrics by state.scyllastate.metrics_enabled)")
	var lines []string
	_ = proc.Poll(ctx, 40*time.Second, 100*time.Millisecond, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		lines = scrape(ctx, url)
		return len(lines) > 0, nil
	})
	for i, l := range lines {
		if i == 12 {
			break
		}
		fmt.Println(l)
	}
	fmt.Printf("logs: %s/peer*/daemon.log\n", d.dir)
}

// scrape is the metricLine lines that url serves.
func scrape(ctx context.Context, url string) []string {
	b, err := cluster.Get(ctx, url, 5*time.Second)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, metricLine) {
			out = append(out, l)
		}
	}
	return out
}

// waitForEnter waits until Enter is pressed or ctx ends. The reading
// goroutine ends with the line read, or with this process.
func waitForEnter(ctx context.Context) error {
	fmt.Fprint(os.Stderr, "press Enter to stop everything ")
	read := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		close(read)
	}()
	select {
	case <-read:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
