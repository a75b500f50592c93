//go:build scylla && integration && faults

package service_test

// A randomized test in the style of Jepsen (`make test-chaos`): four
// in-process peers over a real two-data-center Cassandra (dc1:
// 127.0.0.41-42, dc2: 127.0.0.43-44, 2 replicas per DC, LOCAL_QUORUM,
// EACH_QUORUM events), clients pinning and unpinning CIDs of a small pool
// through the peers' REST APIs, and a nemesis pausing, killing and
// cutting off database nodes, stopping peers and skewing the writers'
// clocks, on a schedule drawn from the seed. After the run everything is
// healed and the peers must converge; then three checks:
//
//  1. linearizability: per CID, a register (pinned or not) checked with
//     porcupine over every operation (unknown outcomes never return,
//     definite failures are dropped) and a final read of the pinset: an
//     acknowledged change that followed another in real time wins;
//  2. agreement: the pinset as each peer reads it, each peer's tracker
//     status and each peer's IPFS agree with the pinset, for every CID;
//  3. nothing half-applied: for every CID, the newest event of the
//     change feed agrees with the pin row.
//
// Why two DCs of two nodes rather than three nodes in one DC: the
// multi-DC paths (events at EACH_QUORUM falling back to LOCAL_QUORUM,
// changes announced again, events that reach a DC late, a whole DC cut
// off) are where the change feed can lose a change, and four JVMs of
// 512 MB still fit a 2-core machine (TestFaultTwoDataCenters runs the
// same). With two replicas per DC, one node down stops its DC's
// LOCAL_QUORUM: the other DC goes on, which gives a mix of acknowledged,
// failed and unknown outcomes.
//
// The history has no reads but the final one: reads at LOCAL_QUORUM in
// another DC than the write's may be stale by design (see
// docs/configuration.md), so only writes are checked against each other,
// which is the promise: a change acknowledged after another one ended
// (in real time, whatever the writers' clocks) wins.
//
// CHAOS_DURATION (default 3m) is the length of the workload, CHAOS_SEED
// the seed (default: the time), CHAOS_CONVERGE (default 2m) bounds the
// wait for convergence, CHAOS_OUT the folder of the artifacts kept on
// failure (history, faults, porcupine's HTML). The seed fixes the
// schedule and the choices of the clients; the timings of the real
// database do not replay exactly.

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/test"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// Workload shape.
const (
	chaosClientsPerPeer = 2
	chaosPoolSize       = 30  // live CIDs at any time
	chaosOpsPerKey      = 24  // operations on a CID before it is retired
	chaosMaxOps         = 800 // per client
)

// chaosSettings come from the environment.
type chaosSettings struct {
	duration time.Duration
	converge time.Duration
	seed     int64
	out      string
}

func chaosEnv(t *testing.T) chaosSettings {
	t.Helper()
	s := chaosSettings{duration: 3 * time.Minute, converge: 2 * time.Minute, seed: time.Now().UnixNano()}
	dur := func(name string, d *time.Duration) {
		if v := os.Getenv(name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				t.Fatalf("%s=%q: want a positive duration such as 3m", name, v)
			}
			*d = x
		}
	}
	dur("CHAOS_DURATION", &s.duration)
	dur("CHAOS_CONVERGE", &s.converge)
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want an integer", v)
		}
		s.seed = x
	}
	s.out = os.Getenv("CHAOS_OUT")
	if s.out == "" {
		s.out = filepath.Join(os.TempDir(), fmt.Sprintf("ipfs-cluster-chaos-%d", s.seed))
	}
	return s
}

// chaosClocks are the writers' clocks: the system clock plus an offset
// per writer (a peer ID) that the nemesis changes during the run. The
// store asks for its writer's clock once, when it is created.
type chaosClocks struct {
	mu       sync.Mutex
	offsets  map[string]*atomic.Int64
	creation map[string]int
}

func newChaosClocks() *chaosClocks {
	return &chaosClocks{offsets: map[string]*atomic.Int64{}, creation: map[string]int{}}
}

func (c *chaosClocks) set(writer string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.offsets[writer]
	if !ok {
		off = new(atomic.Int64)
		c.offsets[writer] = off
	}
	off.Store(int64(d))
}

// clock is the seam: nil (the system clock) for writers other than the
// peers.
func (c *chaosClocks) clock(writer string) func() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.offsets[writer]
	if !ok {
		return nil
	}
	c.creation[writer]++
	return func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
}

func (c *chaosClocks) created(writer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creation[writer]
}

// chaosPeer is an in-process peer that the nemesis stops and restarts
// from its configuration folder.
type chaosPeer struct {
	name, dc string
	dir      string
	rest     string // http://127.0.0.1:port
	id       string // peer ID: the writer ID of its store
	ipfs     *test.IpfsMock

	mu     sync.Mutex
	peer   *service.Peer
	helper *config.Helper
}

// start loads the configuration as `daemon` does and starts the peer;
// waitReady waits until it is ready.
func (p *chaosPeer) start() error {
	h, err := config.NewLoadedHelper(filepath.Join(p.dir, "service.json"), filepath.Join(p.dir, "identity.json"))
	if err != nil {
		return err
	}
	peer, err := service.NewPeer(context.Background(), h, service.Options{})
	if err != nil {
		h.Manager().Shutdown()
		return err
	}
	p.mu.Lock()
	p.peer, p.helper = peer, h
	p.mu.Unlock()
	return nil
}

// waitReady waits until the running peer is ready; it leaves it running
// when it is not ready in time.
func (p *chaosPeer) waitReady(d time.Duration) error {
	peer := p.running()
	if peer == nil {
		return errors.New("not running")
	}
	select {
	case <-peer.Cluster.Ready():
		return nil
	case <-peer.Cluster.Done():
		return fmt.Errorf("%w: %v", errGaveUp, peer.Err())
	case <-time.After(d):
		return fmt.Errorf("not ready %s after its start (it keeps trying): %v", d, peer.Err())
	}
}

// errGaveUp: the peer shut itself down before it was ready.
var errGaveUp = errors.New("the peer gave up its start and shut down")

// ready reports whether the peer runs and is ready.
func (p *chaosPeer) ready() bool {
	peer := p.running()
	if peer == nil {
		return false
	}
	select {
	case <-peer.Cluster.Ready():
		return true
	default:
		return false
	}
}

// shutdown stops the peer if it runs.
func (p *chaosPeer) shutdown() error {
	p.mu.Lock()
	peer, h := p.peer, p.helper
	p.peer, p.helper = nil, nil
	p.mu.Unlock()
	if peer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := peer.Shutdown(ctx)
	h.Manager().Shutdown()
	return err
}

// join joins the peer to a running one (nil: none).
func (p *chaosPeer) join(to ma.Multiaddr) error {
	peer := p.running()
	if to == nil || peer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := peer.Cluster.Join(ctx, to); err != nil {
		// Pins with replication -1 need no allocation: the peer works
		// without its libp2p neighbours; the hints come back with them.
		return fmt.Errorf("joining %s (the peer runs): %w", to, err)
	}
	return nil
}

// addr is the peer's libp2p address, nil when stopped.
func (p *chaosPeer) addr() ma.Multiaddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peer == nil {
		return nil
	}
	return p.peer.Host.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + p.peer.Host.ID().String()))
}

func (p *chaosPeer) running() *service.Peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peer
}

// chaosRun is one run: the database, the peers, the history, the faults.
type chaosRun struct {
	t       *testing.T
	set     chaosSettings
	db      *dbCluster
	base    *scyllastate.Config
	peers   []*chaosPeer
	clocks  *chaosClocks
	history *chaosHistory
	keys    *chaosKeys
	nem     *nemesis

	feedOverlap    time.Duration
	requestTimeout time.Duration
	think          time.Duration // mean pause between a client's operations
}

func (r *chaosRun) logf(format string, args ...any) { r.t.Logf(format, args...) }

// errorf fails the test with the seed in the message.
func (r *chaosRun) errorf(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf("[seed %d] "+format, append([]any{r.set.seed}, args...)...)
}

func (r *chaosRun) cid(key int) api.Cid { return statetest.Cid(chaosCidBase + key) }

func (r *chaosRun) nodeName(node int) string {
	return fmt.Sprintf("%d (%s, %s)", node, r.db.hosts[node-1], r.db.dcs[node-1])
}

func (r *chaosRun) dcNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, dc := range r.db.dcs {
		if !seen[dc] {
			seen[dc] = true
			out = append(out, dc)
		}
	}
	return out
}

// runningPeer returns the address of a running peer other than i.
func (r *chaosRun) runningPeer(i int) ma.Multiaddr {
	for j, p := range r.peers {
		if j != i {
			if a := p.addr(); a != nil {
				return a
			}
		}
	}
	return nil
}

func TestChaos(t *testing.T) {
	set := chaosEnv(t)
	r := &chaosRun{
		t: t, set: set,
		clocks:         newChaosClocks(),
		requestTimeout: 10 * time.Second,
		think:          300 * time.Millisecond,
	}
	t.Logf("chaos: seed %d, duration %s (replay: CHAOS_SEED=%d CHAOS_DURATION=%s make test-chaos)", set.seed, set.duration, set.seed, set.duration)
	testStart := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos: FAILED with seed %d, duration %s: replay with CHAOS_SEED=%d CHAOS_DURATION=%s make test-chaos", set.seed, set.duration, set.seed, set.duration)
		}
	})
	t.Cleanup(seams.SetClock(r.clocks.clock))

	// Two data centers of two nodes each: the multi-DC paths (EACH_QUORUM
	// events falling back to LOCAL_QUORUM, changes re-announced, late
	// events) are where the feed can lose a change; two replicas per DC
	// keep four JVMs within a 2-core machine's means.
	r.db = startDB(t, "chaos", []string{"127.0.0.41", "127.0.0.42", "127.0.0.43", "127.0.0.44"}, "dc1", "dc1", "dc2", "dc2")
	r.base = dbConfig(t, r.db, func(c *scyllastate.Config) {
		c.ReplicationStrategy = scyllastate.NetworkTopologyStrategy
		c.DCReplication = map[string]int{"dc1": 2, "dc2": 2}
		c.EventConsistency = "EACH_QUORUM"
		c.Timeout = 2 * time.Second
		c.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 1, MinRetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
	})
	r.feedOverlap = r.base.WriteDeadline() + 10*time.Second
	// The checks' store, opened first: it creates the schema with a
	// timeout fit for DDL on four nodes, which the peers' 2s is not.
	st := r.checkerStore(t)

	// One writer 5s fast and one 2s slow from the start, one in each DC;
	// the nemesis changes the offsets during the run.
	specs := []struct {
		name, dc string
		skew     time.Duration
	}{{"a", "dc1", 5 * time.Second}, {"b", "dc1", 0}, {"c", "dc2", -2 * time.Second}, {"d", "dc2", 0}}
	for _, s := range specs {
		r.peers = append(r.peers, r.newPeer(t, s.name, s.dc, s.skew))
	}
	r.join(t)
	for _, p := range r.peers {
		if r.clocks.created(p.id) == 0 {
			t.Logf("chaos: the store of peer %s never asked internal/seams for its clock: clock skew has no effect in this build", p.name)
		}
	}

	// The run: clients and the two nemesis lanes, stopped and healed by
	// the cleanup too if the test ends early.
	r.history = newChaosHistory(time.Now())
	r.keys = newChaosKeys(set.seed, chaosPoolSize, chaosOpsPerKey)
	r.nem = newNemesis(r)
	for _, p := range r.peers {
		off := time.Duration(0)
		for _, s := range specs {
			if s.name == p.name {
				off = s.skew
			}
		}
		if off != 0 {
			r.nem.record(faultRecord{Lane: "peer", Kind: "clock-skew", Target: fmt.Sprintf("%s %+v", p.name, off), At: 0})
		}
	}
	runStart := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop := sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		r.nem.healAll()
	})
	t.Cleanup(stop)
	work, endWork := context.WithTimeout(ctx, set.duration)
	defer endWork()
	for i := range chaosClientsPerPeer * len(r.peers) {
		rng := rand.New(rand.NewSource(set.seed + 1000 + int64(i)))
		wg.Add(1)
		go func() { defer wg.Done(); r.client(work, i, rng, chaosMaxOps) }()
	}
	wg.Add(3)
	go func() { defer wg.Done(); r.nem.dbLane(work, rand.New(rand.NewSource(set.seed+1))) }()
	go func() { defer wg.Done(); r.nem.peerLane(work, rand.New(rand.NewSource(set.seed+2))) }()
	go func() { defer wg.Done(); r.progress(work) }()
	<-work.Done()
	stop()
	runTook := time.Since(runStart)

	// Convergence, then the checks.
	converged := r.converge(t, st)
	ops := r.finalRead(t, st)
	lin := r.checkLinearizability(t, ops)
	feedBad := r.checkFeed(t, st, testStart.Add(-time.Minute))

	// Report.
	faults, nemErrs := r.nem.snapshot()
	for _, e := range nemErrs {
		r.errorf("nemesis: %s", e)
	}
	n := countOps(ops)
	if acked := n["pin/ok"] + n["unpin/ok"]; acked < 20 {
		r.errorf("the workload had only %d acknowledged changes: the run checked next to nothing", acked)
	}
	byKind := countFaults(faults)
	var kinds []string
	for _, k := range keys(byKind) {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, byKind[k]))
	}
	t.Logf("chaos: operations: %d pin ok, %d pin failed, %d pin unknown; %d unpin ok, %d unpin failed, %d unpin unknown; %d final reads; %d CIDs",
		n["pin/ok"], n["pin/failed"], n["pin/unknown"], n["unpin/ok"], n["unpin/failed"], n["unpin/unknown"], n["read/ok"], r.keys.count())
	t.Logf("chaos: faults: %s", strings.Join(kinds, ", "))
	if t.Failed() {
		r.writeArtifacts(t, ops, faults, lin)
	}
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAIL"
	}
	t.Logf("chaos summary: seed=%d duration=%s run=%s ops=%d (ok=%d failed=%d unknown=%d) faults=%d (%s) linearizable=%s agreement=%s feed=%s total=%s",
		set.seed, set.duration, runTook.Round(time.Second), n["ok"]+n["failed"]+n["unknown"]-n["read/ok"], n["ok"]-n["read/ok"], n["failed"], n["unknown"],
		len(faults), strings.Join(kinds, " "), lin.result, verdict(converged), verdict(feedBad == 0), time.Since(testStart).Round(time.Second))
}

// newPeer writes a peer's configuration (its DC's nodes, DC-aware),
// registers its clock offset and starts it.
func (r *chaosRun) newPeer(t *testing.T, name, dc string, skew time.Duration) *chaosPeer {
	t.Helper()
	p := &chaosPeer{name: name, dc: dc, dir: t.TempDir(), ipfs: test.NewIpfsMock(t)}
	t.Cleanup(p.ipfs.Close)
	port := freePort(t)
	p.rest = fmt.Sprintf("http://127.0.0.1:%d", port)
	db := *r.base
	db.Hosts = nil
	for i, h := range r.db.hosts {
		if r.db.dcs[i] == dc {
			db.Hosts = append(db.Hosts, h)
		}
	}
	db.DCAwareRouting, db.LocalDC = true, dc
	writeConfigWith(t, p.dir, &db, p.ipfs, name, func(c *config.Configs) {
		c.Restapi.HTTPListenAddr = []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))}
		c.Scylla.FeedOverlap = r.feedOverlap
		c.Scylla.PollInterval = 500 * time.Millisecond
		// The repair that convergence relies on, made frequent: the
		// whole pinset checked against IPFS every 20s, and the tracker's
		// operations in error recovered as often.
		c.Scylla.RepairInterval = 20 * time.Second
		c.Scylla.RecoverSlices = 4
		c.Cluster.PinRecoverInterval = 20 * time.Second
	})
	h, err := config.NewLoadedHelper(filepath.Join(p.dir, "service.json"), filepath.Join(p.dir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	p.id = h.Identity().ID.String()
	h.Manager().Shutdown()
	r.clocks.set(p.id, skew)
	if err := p.start(); err != nil {
		t.Fatalf("starting peer %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := p.shutdown(); err != nil {
			t.Errorf("stopping peer %s: %v", name, err)
		}
	})
	if err := p.waitReady(90 * time.Second); err != nil {
		t.Fatalf("peer %s: %v", name, err)
	}
	t.Logf("chaos: peer %s (%s) in %s, REST %s, clock %+v", name, p.id, dc, p.rest, skew)
	return p
}

// join connects the peers to the first and waits until each sees all.
func (r *chaosRun) join(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := r.peers[0].addr()
	for _, p := range r.peers[1:] {
		if err := p.running().Cluster.Join(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "every peer sees the others", func() bool {
		for _, p := range r.peers {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ps, err := p.running().Consensus.Peers(ctx)
			cancel()
			if err != nil || len(ps) != len(r.peers) {
				return false
			}
		}
		return true
	})
}

// progress logs the operations so far every 30s.
func (r *chaosRun) progress(ctx context.Context) {
	for sleep(ctx, 30*time.Second) {
		n := countOps(r.history.snapshot())
		r.logf("chaos: %8.3fs %d operations: %d ok, %d failed, %d unknown", r.history.now().Seconds(), n["ok"]+n["failed"]+n["unknown"], n["ok"], n["failed"], n["unknown"])
	}
}

// checkerStore opens the store that the checks read: every node, at
// consistency ALL (the database's whole answer, all replicas merged).
func (r *chaosRun) checkerStore(t *testing.T) *scyllastate.ScyllaState {
	t.Helper()
	cfg := *r.base
	cfg.Consistency = "ALL"
	cfg.Timeout = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, &cfg, scyllastate.WithWriterID("chaos-checker"), scyllastate.WithRegistry(prometheus.NewRegistry()))
	if err != nil {
		t.Fatalf("opening the checker's store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// readAll reads every CID the workload used.
func (r *chaosRun) readAll(ctx context.Context, st *scyllastate.ScyllaState) (map[int]scyllastate.RowVersion, error) {
	out := map[int]scyllastate.RowVersion{}
	for key := range r.keys.count() {
		rv, err := st.ReadVersion(ctx, r.cid(key))
		if err != nil {
			return nil, err
		}
		out[key] = rv
	}
	return out, nil
}

// disagreement is a CID on which a peer and the pinset differ.
type disagreement struct {
	key  int
	what string
}

// disagreements compares every peer's view with the pinset.
func (r *chaosRun) disagreements(truth map[int]scyllastate.RowVersion, views []peerView) []disagreement {
	var out []disagreement
	for key := range r.keys.count() {
		c := r.cid(key).String()
		want := truth[key].Found
		for i, v := range views {
			p := r.peers[i]
			status := v.status[c]
			okStatus := status == "pinned"
			if !want {
				okStatus = status == "" || status == "unpinned"
			}
			if v.pinset[c] != want || v.ipfs[c] != want || !okStatus {
				out = append(out, disagreement{key, fmt.Sprintf("%s (key %d): pinset %s; peer %s reads %s, tracker status %q, IPFS %s",
					c, key, pinnedWord(want), p.name, pinnedWord(v.pinset[c]), status, pinnedWord(v.ipfs[c]))})
			}
		}
	}
	return out
}

// converge waits, bounded, until every peer agrees with the pinset
// (check 2) and reports the disagreements left.
func (r *chaosRun) converge(t *testing.T, st *scyllastate.ScyllaState) bool {
	t.Helper()
	start := time.Now()
	var (
		last []disagreement
		err  error
	)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var truth map[int]scyllastate.RowVersion
		truth, err = r.readAll(ctx, st)
		var views []peerView
		for _, p := range r.peers {
			if err != nil {
				break
			}
			var v peerView
			v, err = r.view(ctx, p)
			views = append(views, v)
		}
		cancel()
		if err == nil {
			if last = r.disagreements(truth, views); len(last) == 0 {
				t.Logf("chaos: every peer agrees with the pinset on %d CIDs, %s after the heal", r.keys.count(), time.Since(start).Round(100*time.Millisecond))
				return true
			}
		}
		if time.Since(start) > r.set.converge {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		r.errorf("check 2 (agreement): after %s, the peers' views cannot be read: %v", r.set.converge, err)
		return false
	}
	var b strings.Builder
	shownKeys := map[int]bool{}
	for i, d := range last {
		if i == 20 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(last)-i)
			break
		}
		b.WriteString("  " + d.what + "\n")
		if len(shownKeys) < 3 && !shownKeys[d.key] {
			shownKeys[d.key] = true
			b.WriteString(keyHistory(r.history.snapshot(), d.key))
		}
	}
	r.errorf("check 2 (agreement): after %s, %d disagreements between the pinset and the peers' pinset reads, tracker status or IPFS, e.g.:\n%s",
		r.set.converge, len(last), b.String())
	return false
}

// finalRead reads every CID from the pinset and adds the reads to the
// history.
func (r *chaosRun) finalRead(t *testing.T, st *scyllastate.ScyllaState) []chaosOp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	process := r.history.newProcess()
	call := r.history.now()
	truth, err := r.readAll(ctx, st)
	if err != nil {
		t.Fatalf("[seed %d] final read of the pinset: %v", r.set.seed, err)
	}
	ret := r.history.now()
	for key := range r.keys.count() {
		r.history.add(chaosOp{Process: process, Client: -1, Peer: "store (ALL)", Kind: opRead, Key: key, Cid: r.cid(key).String(),
			Call: call, Return: ret, Outcome: outcomeOK, Pinned: truth[key].Found})
	}
	return r.history.snapshot()
}

// checkLinearizability is check 1.
func (r *chaosRun) checkLinearizability(t *testing.T, ops []chaosOp) linearizability {
	t.Helper()
	lin := checkLinearizable(ops, 3*time.Minute)
	t.Logf("chaos: linearizability of %d CIDs: %s (%s)", lin.checked, lin.result, lin.took.Round(time.Millisecond))
	switch lin.result {
	case porcupine.Ok:
	case porcupine.Illegal:
		var b strings.Builder
		for i, key := range lin.illegal {
			if i == 5 {
				fmt.Fprintf(&b, "  ... and %d more\n", len(lin.illegal)-i)
				break
			}
			fmt.Fprintf(&b, "  CID %s (key %d):\n%s", r.cid(key), key, keyHistory(ops, key))
		}
		r.errorf("check 1 (linearizability): the history of %d of %d CIDs is not linearizable (an acknowledged change lost, or a stale final state):\n%s", len(lin.illegal), lin.checked, b.String())
	default:
		r.errorf("check 1 (linearizability): porcupine could not decide within its time limit (%s)", lin.result)
	}
	return lin
}

// checkFeed is check 3: for every CID, the newest event of the change
// feed (by write timestamp; a deletion wins a tie, as in the database)
// agrees with the pin row, and no row is newer than every event of its
// CID (a row without its event). It returns the number of violations.
func (r *chaosRun) checkFeed(t *testing.T, st *scyllastate.ScyllaState, from time.Time) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	newest := map[string]scyllastate.Event{}
	events := 0
	err := st.Feed().Events(ctx, from, time.Now().Add(time.Minute), func(e scyllastate.Event) error {
		events++
		if e.Legacy {
			return nil
		}
		c := e.Cid.String()
		old, ok := newest[c]
		if !ok || e.WriteTime > old.WriteTime || (e.WriteTime == old.WriteTime && e.Op == scyllastate.OpUnpin) {
			newest[c] = e
		}
		return nil
	})
	if err != nil {
		r.errorf("check 3 (feed): reading the change feed: %v", err)
		return 1
	}
	known := map[string]int{}
	for key := range r.keys.count() {
		known[r.cid(key).String()] = key
	}
	var bad []string
	for c := range newest {
		if _, ok := known[c]; !ok {
			bad = append(bad, fmt.Sprintf("%s: an event for a CID the workload never used", c))
		}
	}
	for key := range r.keys.count() {
		c := r.cid(key)
		rv, err := st.ReadVersion(ctx, c)
		if err != nil {
			r.errorf("check 3 (feed): reading %s: %v", c, err)
			return 1
		}
		e, ok := newest[c.String()]
		row := "absent"
		if rv.Found {
			row = fmt.Sprintf("present, written at %d", rv.WriteTime)
		}
		switch {
		case !ok && rv.Found:
			bad = append(bad, fmt.Sprintf("%s (key %d): row %s, no event", c, key, row))
		case !ok:
		case e.Op == scyllastate.OpPin && (!rv.Found || rv.WriteTime < e.WriteTime):
			bad = append(bad, fmt.Sprintf("%s (key %d): newest event is a pin written at %d by %s, row %s", c, key, e.WriteTime, e.Writer, row))
		case e.Op == scyllastate.OpUnpin && rv.Found && rv.WriteTime <= e.WriteTime:
			bad = append(bad, fmt.Sprintf("%s (key %d): newest event is an unpin written at %d by %s, row %s", c, key, e.WriteTime, e.Writer, row))
		case rv.Found && rv.WriteTime > e.WriteTime:
			bad = append(bad, fmt.Sprintf("%s (key %d): row %s, newer than its newest event (%s at %d by %s): a row without its event", c, key, row, e.Op, e.WriteTime, e.Writer))
		}
	}
	sort.Strings(bad)
	t.Logf("chaos: change feed: %d events of %d CIDs read; %d CIDs disagree with their row", events, len(newest), len(bad))
	if len(bad) > 0 {
		shown := bad
		if len(shown) > 20 {
			shown = shown[:20]
		}
		r.errorf("check 3 (feed): %d CIDs half-applied (newest event and row disagree), e.g.:\n  %s", len(bad), strings.Join(shown, "\n  "))
	}
	return len(bad)
}

// writeArtifacts keeps the history, the faults and, when the history is
// not linearizable, porcupine's visualization.
func (r *chaosRun) writeArtifacts(t *testing.T, ops []chaosOp, faults []faultRecord, lin linearizability) {
	t.Helper()
	if err := os.MkdirAll(r.set.out, 0o755); err != nil {
		t.Logf("chaos: cannot keep the artifacts: %v", err)
		return
	}
	hist := filepath.Join(r.set.out, "history.json")
	if err := writeJSON(hist, ops); err != nil {
		t.Logf("chaos: writing %s: %v", hist, err)
	}
	fp := filepath.Join(r.set.out, "faults.json")
	if err := writeJSON(fp, faults); err != nil {
		t.Logf("chaos: writing %s: %v", fp, err)
	}
	t.Logf("chaos: history in %s, faults in %s", hist, fp)
	if lin.result == porcupine.Illegal {
		html := filepath.Join(r.set.out, "linearizability.html")
		if err := writeVisualization(lin, faults, html); err != nil {
			t.Logf("chaos: writing %s: %v", html, err)
		} else {
			t.Logf("chaos: porcupine's visualization of the history: %s", html)
		}
	}
}
