// Command compare is the side-by-side benchmark: upstream
// ipfs-cluster v1.1.5 with crdt and with raft (both on pebble) and ours
// (the pinset in Cassandra/Scylla), on generated pinsets, in one run on
// one machine. It drives each backend as a user would: the
// ipfs-cluster-service binary (init, daemon, state import/export), the
// REST API (pin add, pin ls) and an offline kubo per peer; it reads the
// database's CPU time from /proc and its request counts from its virtual
// tables.
//
//	make bench-quick     # 10k pins, a few minutes
//	make bench-compare   # 10k, 100k and 1M pins
//
// Every phase records the CPU and peak RSS of the peers and, for ours, of
// the database next to them (meter.go); the add and import phases divide
// them by the pins. Ready times come from the daemons' own log stamps
// (millisecond resolution); idle figures are net of the database's
// baseline, with the baseline's spread as their ±.
// With -many-peers N, N peers of ours share one keyspace (manypeers.go).
//
// It writes <mode>.{md,json,png} and latest.{md,json,png} into -out (a
// new temporary folder unless given: the committed bench/results change
// only with -out bench/results), and with -readme updates the README's
// Benchmarks section.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// config holds the flags.
type config struct {
	mode          string
	sizes         []int
	backends      string
	restPins      int
	addPinnable   bool
	peerMetrics   bool
	clients       int
	startWindow   time.Duration
	idleWindow    time.Duration
	threePeersFor string
	raftMaxSize   int
	binDir        string
	ipfsBin       string
	work          string
	keep          bool
	outDir        string
	readme        string
	dbHosts       []string
	dbPort        int
	pidFile       string
	dbMetrics     []string // the database nodes' Prometheus endpoints (a database on other machines)
	timeoutPerPin float64  // nanoseconds of phase timeout per pin
	dbWarmUp      time.Duration
	fromJSON      string
	baselineN     int // baseline samples (idle windows with no peer)
	many          manyConfig
}

// manyConfig are the flags of the N-peer phase (see manypeers.go).
type manyConfig struct {
	peers       int
	size        int
	replication int
	kubos       int
	reachPins   int
	idleWindow  time.Duration
	together    bool
}

// threePeers tells whether the 3-peer REST add runs for backend name.
func (c *config) threePeers(name string) bool {
	switch c.threePeersFor {
	case "all":
		return true
	case "none", "":
		return false
	}
	for _, n := range strings.Split(c.threePeersFor, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// harness is one run.
type harness struct {
	cfg  config
	run  *Run
	ps   *proc.Group
	db   *database
	work string
	many []*backend // ours, for the N-peer phase
}

var runStart = time.Now()

// logf prints a progress line with the time since the start.
func logf(format string, args ...any) {
	d := time.Since(runStart).Round(time.Second)
	fmt.Fprintf(os.Stderr, "[%02d:%02d:%02d] %s\n", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60, fmt.Sprintf(format, args...))
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench-compare", flag.ContinueOnError)
	fs.StringVar(&c.mode, "mode", "quick", "quick (10k pins, a few minutes) or full (10k, 100k, 1M); sets the defaults below")
	sizes := fs.String("sizes", "", "pinset sizes, comma-separated (10k,100k,1M) [quick: 10k; full: 10k,100k,1M]")
	fs.StringVar(&c.backends, "backends", "crdt,raft,ours", "backends to compare (none: only the N-peer phase)")
	fs.IntVar(&c.restPins, "rest-pins", 0, "pins added through REST per add phase [quick: 1000; full: 5000]")
	fs.IntVar(&c.clients, "clients", 16, "concurrent REST clients")
	fs.BoolVar(&c.addPinnable, "add-pinnable", false, "the REST add phases add identity CIDs, which an offline kubo pins at once (pins that succeed), "+
		"instead of CIDs no kubo holds (pins that fail: ours then also stores each failure in tracker_errors)")
	fs.BoolVar(&c.peerMetrics, "peer-metrics", false, "serve every peer's Prometheus metrics (enable_stats, and the store's for ours) and report, for ours, "+
		"how many calls each group of database requests served in the REST add phases; the metrics' own cost is then in every backend's figures")
	fs.DurationVar(&c.startWindow, "start-window", 0, "RSS sampling after the first start [quick: 20s; full: 90s]")
	fs.DurationVar(&c.idleWindow, "idle-window", 0, "idle phase, also set as cluster.state_sync_interval [quick: 15s; full: 60s]")
	fs.StringVar(&c.threePeersFor, "three-peers", "crdt,ours", "backends also measured with 3 peers (comma-separated, all, none)")
	fs.IntVar(&c.raftMaxSize, "raft-max-size", 0, "skip raft above this pinset size (0: no limit)")
	fs.StringVar(&c.binDir, "bin", "bin", "folder with ipfs-cluster-service, upstream/ipfs-cluster-service and ipfs")
	fs.StringVar(&c.work, "work", "", "work folder (default: a new temporary folder)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work folder (peer folders, logs)")
	fs.StringVar(&c.outDir, "out", "", "where the report, JSON and chart go (default: a new temporary folder, printed at the end; "+
		"the committed results change only with -out bench/results)")
	fs.StringVar(&c.readme, "readme", "", "README to update between the bench markers (empty: none; needs an explicit -out)")
	fs.IntVar(&c.baselineN, "baseline-samples", 3, "idle windows of the database with no peer running: their mean is the baseline, their spread the ± of the net idle figures")
	fs.IntVar(&c.many.peers, "many-peers", -1, "peers of ours started on one keyspace in the N-peer phase (0: none) [quick: 0; full: 24]")
	manySize := fs.String("many-peers-size", "100k", "pins imported before the N peers start")
	fs.IntVar(&c.many.replication, "many-peers-rf", 0, "replication factor of the imported pins of the N-peer phase, allocated round robin over the peers "+
		"(0: allocated to a peer outside the cluster, so that no peer tracks them: as if all were pinned)")
	fs.IntVar(&c.many.kubos, "many-peers-kubos", 0, "kubo daemons the N peers share, round robin (0: one per peer; "+
		"a shared kubo serialises pins and unpins behind one lock, which stalls the peers' change feeds)")
	fs.IntVar(&c.many.reachPins, "many-peers-pins", 100, "pins timed from their REST add to every peer's tracker")
	fs.DurationVar(&c.many.idleWindow, "many-peers-idle", time.Minute, "idle window of the N peers (database CPU, feed reads)")
	fs.BoolVar(&c.many.together, "many-peers-together", false, "start all N peers at once right after the import (as after a migration), "+
		"instead of peer0 alone first: no 1-peer REST add, so no N/1 ratio")
	hosts := fs.String("db-hosts", envOr("SCYLLASTATE_TEST_HOSTS", "127.0.0.1"), "database hosts (comma-separated)")
	fs.IntVar(&c.dbPort, "db-port", atoiOr(os.Getenv("SCYLLASTATE_TEST_PORT"), 9042), "database CQL port")
	fs.StringVar(&c.pidFile, "cassandra-pid-file", filepath.Join(envOr("CASSANDRA_RUN_DIR", "/tmp/ipfs-cluster-scylla-cassandra"),
		envOr("CASSANDRA_NAME", "main"), "node1", "pid"), "pid file of the database process (for its CPU time)")
	dbMetrics := fs.String("db-metrics", "", "a database on other machines: the Prometheus endpoint of each of its ScyllaDB nodes "+
		"(comma-separated, http://NODE:9180/metrics), from which its CPU, reads, writes, requests and compactions are read "+
		"instead of from -cassandra-pid-file and Cassandra's virtual tables; its RSS is not measured")
	perPin := fs.Duration("phase-timeout-per-pin", 2*time.Millisecond, "phase timeout: 2 min plus this per pin")
	fs.DurationVar(&c.dbWarmUp, "db-warmup", time.Minute, "mixed load on a throwaway keyspace before the baseline, so that the database is measured warm (0: none)")
	fs.StringVar(&c.fromJSON, "from-json", "", "run nothing: render the report, chart (and -readme) of a saved run")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if c.readme != "" && !explicit["out"] {
		return c, fmt.Errorf("-readme links the chart in the output folder: give it with -out (e.g. -out bench/results)")
	}
	quick := c.mode == "quick"
	if !quick && c.mode != "full" {
		return c, fmt.Errorf("-mode %q: use quick or full", c.mode)
	}
	pick := func(q, f string) string {
		if quick {
			return q
		}
		return f
	}
	if *sizes == "" {
		*sizes = pick("10k", "10k,100k,1M")
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := parseSize(s)
		if err != nil {
			return c, fmt.Errorf("-sizes: %w", err)
		}
		c.sizes = append(c.sizes, n)
	}
	if c.restPins == 0 {
		c.restPins, _ = strconv.Atoi(pick("1000", "5000"))
	}
	if c.startWindow == 0 {
		c.startWindow, _ = time.ParseDuration(pick("20s", "90s"))
	}
	if c.idleWindow == 0 {
		c.idleWindow, _ = time.ParseDuration(pick("15s", "60s"))
	}
	if c.clients < 1 || c.restPins < 1 {
		return c, fmt.Errorf("-clients and -rest-pins must be positive")
	}
	if c.baselineN < 1 {
		return c, fmt.Errorf("-baseline-samples must be positive")
	}
	if c.many.peers < 0 {
		c.many.peers, _ = strconv.Atoi(pick("0", "24"))
	}
	var err error
	if c.many.size, err = parseSize(*manySize); err != nil {
		return c, fmt.Errorf("-many-peers-size: %w", err)
	}
	if c.many.kubos == 0 {
		c.many.kubos = c.many.peers
	}
	if c.many.peers > 0 && (c.many.peers < 2 || c.many.replication < 0 || c.many.replication > c.many.peers || c.many.kubos < 1 || c.many.reachPins < 1 || c.many.idleWindow <= 0) {
		return c, fmt.Errorf("-many-peers needs at least 2 peers, -many-peers-rf between 0 and the peers, and -many-peers-kubos, -many-peers-pins and -many-peers-idle must be positive")
	}
	c.dbHosts = strings.Split(*hosts, ",")
	if *dbMetrics != "" {
		for _, u := range strings.Split(*dbMetrics, ",") {
			if u = strings.TrimSpace(u); !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return c, fmt.Errorf("-db-metrics %q: each entry must be an http(s) URL such as http://10.0.0.5:9180/metrics", u)
			}
			c.dbMetrics = append(c.dbMetrics, strings.TrimSpace(u))
		}
	}
	c.timeoutPerPin = float64(*perPin)
	c.ipfsBin = filepath.Join(c.binDir, "ipfs")
	return c, nil
}

// parseSize reads 10k, 100k, 1M or a plain number.
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1000000, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: use a positive number, optionally with k or M", s)
	}
	return n * mult, nil
}

// sizeLabel writes 10000 as 10k and 1000000 as 1M.
func sizeLabel(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// isTimeout tells whether err is a timeout.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out")
}

func run(ctx context.Context, cfg config) (err error) {
	if cfg.fromJSON != "" {
		return rerender(cfg)
	}
	bes, err := selectBackends(cfg.binDir, cfg.backends)
	if err != nil {
		return err
	}
	if len(bes) == 0 && cfg.many.peers == 0 {
		return fmt.Errorf("-backends none: nothing to run without -many-peers")
	}
	if _, err := os.Stat(cfg.ipfsBin); err != nil {
		return fmt.Errorf("kubo binary %s is missing: run `make kubo`", cfg.ipfsBin)
	}
	h := &harness{cfg: cfg, ps: &proc.Group{}, run: &Run{
		Mode: cfg.mode, Started: time.Now().UTC(), Commit: gitCommit(), Machine: machine(), LoadAvg: []string{loadAvg()},
		Sizes: cfg.sizes,
		Settings: Settings{RESTPins: cfg.restPins, Clients: cfg.clients, AddPinnable: cfg.addPinnable, PeerMetrics: cfg.peerMetrics,
			StartWindowS: cfg.startWindow.Seconds(), IdleWindowS: cfg.idleWindow.Seconds(),
			ThreePeersFor: cfg.threePeersFor, PhaseTimeoutMS: cfg.timeoutPerPin / 1e6},
	}}
	for _, b := range bes {
		h.run.Backends = append(h.run.Backends, b.Name)
	}
	defer func() {
		if err := h.ps.StopAll(30 * time.Second); err != nil {
			logf("warning: %v", err)
		}
	}()

	if h.work = cfg.work; h.work == "" {
		if h.work, err = os.MkdirTemp("", "bench-compare-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(h.work, 0o755); err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(h.work)
	}
	logf("mode %s, sizes %v, backends %s, work folder %s", cfg.mode, cfg.sizes, cfg.backends, h.work)

	needDB := h.cfg.many.peers > 0
	for _, b := range bes {
		needDB = needDB || b.UsesDB
	}
	if h.cfg.many.peers > 0 {
		if h.many, err = selectBackends(cfg.binDir, "ours"); err != nil {
			return err
		}
	}
	if needDB {
		if h.db, err = openDatabase(ctx, cfg.dbHosts, cfg.dbPort, cfg.pidFile, cfg.dbMetrics); err != nil {
			return err
		}
		defer h.db.close()
		h.run.Settings.DBInstance = h.db.String()
		h.run.Settings.DBMetrics = h.db.nodes != nil
		if cfg.dbWarmUp > 0 {
			logf("warming the database up: %s of mixed load on a throwaway keyspace", cfg.dbWarmUp)
			if err := h.db.warmUp(ctx, cfg.dbWarmUp, cfg.clients); err != nil {
				return err
			}
			h.run.Settings.DBWarmUpS = cfg.dbWarmUp.Seconds()
		}
		if err := h.measureBaseline(ctx); err != nil {
			return err
		}
	}

	var runErr error
	if len(bes) > 0 {
		runErr = h.runAll(ctx, bes)
	} else {
		h.run.Sizes = nil
	}
	if runErr == nil && cfg.many.peers > 0 {
		runErr = h.runManyPeers(ctx, h.many[0])
	}
	h.run.Seconds = time.Since(runStart).Seconds()
	h.run.LoadAvg = append(h.run.LoadAvg, loadAvg())
	if runErr != nil {
		h.run.Interrupted = true
		h.run.note("run interrupted: " + runErr.Error())
	}
	if err := h.writeOutputs(); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// measureBaseline measures the database's own CPU use with no peer of
// ours running, over -baseline-samples idle windows: the idle figures are
// net of their mean, and their spread is the noise band of those figures.
func (h *harness) measureBaseline(ctx context.Context) error {
	if err := h.settleDB(ctx, "the baseline"); err != nil {
		return err
	}
	logf("database baseline: CPU over %d windows of %s with no peer running", h.cfg.baselineN, h.cfg.idleWindow)
	var rates []float64
	for range h.cfg.baselineN {
		c0, err := h.db.cpu(ctx)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.cfg.idleWindow):
		}
		c1, err := h.db.cpu(ctx)
		if err != nil {
			return err
		}
		rates = append(rates, (c1-c0).Seconds()/h.cfg.idleWindow.Seconds())
	}
	mean, sd := meanSD(rates)
	h.run.Settings.DBBaselineCPU = mean
	h.run.Settings.DBBaselineSamples = rates
	ms := make([]string, len(rates))
	for i, r := range rates {
		ms[i] = fmt.Sprintf("%.1f", r*1000)
	}
	logf("database baseline: %.1f ± %.1f ms CPU per second (samples: %s)", mean*1000, sd*1000, strings.Join(ms, ", "))
	return nil
}

// runAll runs every backend at every size; a pinset file is generated
// once per size and shared by the backends.
func (h *harness) runAll(ctx context.Context, bes []*backend) error {
	for _, size := range h.cfg.sizes {
		pinset := filepath.Join(h.work, fmt.Sprintf("pinset-%s.ndjson", sizeLabel(size)))
		logf("generating %d pins into %s", size, pinset)
		if err := writePinset(pinset, fmt.Sprintf("pinset-%d", size), size); err != nil {
			return err
		}
		for _, be := range bes {
			if be.Name == "raft" && h.cfg.raftMaxSize > 0 && size > h.cfg.raftMaxSize {
				h.run.note(fmt.Sprintf("raft %s: not run (-raft-max-size %s)", sizeLabel(size), sizeLabel(h.cfg.raftMaxSize)))
				continue
			}
			t0 := time.Now()
			if err := h.runScenario(ctx, be, size, pinset); err != nil {
				return err
			}
			logf("%s %s: done in %s", be.Name, sizeLabel(size), time.Since(t0).Round(time.Second))
			// Save as we go: a long run interrupted later keeps this.
			_ = h.run.saveJSON(filepath.Join(h.work, "partial.json"))
		}
		_ = os.Remove(pinset)
	}
	return nil
}

// rerender writes the outputs of a saved run again (after a change of
// the report or the chart).
func rerender(cfg config) error {
	r := &Run{}
	if err := jsonconf.Read(cfg.fromJSON, r); err != nil {
		return err
	}
	cfg.mode = r.Mode
	h := &harness{cfg: cfg, run: r}
	return h.writeOutputs()
}

// writeOutputs writes <mode>.{md,json,png} and latest.* into the output
// folder and, with -readme, the README section.
func (h *harness) writeOutputs() error {
	if h.cfg.outDir == "" {
		dir, err := os.MkdirTemp("", "bench-compare-results-")
		if err != nil {
			return fmt.Errorf("creating the output folder: %w", err)
		}
		h.cfg.outDir = dir
	} else if err := os.MkdirAll(h.cfg.outDir, 0o755); err != nil {
		return err
	}
	md := renderMarkdown(h.run, 1, h.cfg.mode+".png")
	for _, name := range []string{h.cfg.mode, "latest"} {
		base := filepath.Join(h.cfg.outDir, name)
		if err := h.run.saveJSON(base + ".json"); err != nil {
			return err
		}
		img := name + ".png"
		if err := os.WriteFile(base+".md", []byte(renderMarkdown(h.run, 1, img)), 0o644); err != nil {
			return err
		}
		if err := writeChart(h.run, base+".png"); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
	}
	logf("wrote %s/{%s,latest}.{md,json,png}", h.cfg.outDir, h.cfg.mode)
	if h.cfg.readme != "" {
		if err := updateReadme(h.cfg.readme, h.run, filepath.Join(h.cfg.outDir, h.cfg.mode+".png")); err != nil {
			return err
		}
		logf("updated %s", h.cfg.readme)
	}
	fmt.Println(md)
	logf("results in %s", h.cfg.outDir)
	return nil
}

// loadAvg is the 1, 5 and 15 minute load averages of the machine.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// gitCommit is the commit of the working tree (with -dirty), if any.
func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// machine describes the machine: CPUs, memory, kernel.
func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var u syscall.Utsname
	kernel := ""
	if syscall.Uname(&u) == nil {
		kernel = utsString(u.Release[:])
	}
	return fmt.Sprintf("%d CPUs (%s), %s RAM, Linux %s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version())
}

func utsString(cs []int8) string {
	b := make([]byte, 0, len(cs))
	for _, c := range cs {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
