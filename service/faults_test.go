//go:build scylla && integration && faults

package service_test

// Fault tests: running peers over a multi-node Cassandra whose nodes are
// killed, paused and restarted (internal/harness/cassandra's multi-node mode),
// and over two data centers. `make test-faults` runs them; each reports
// its figures (requests sent, failed, pins lost, time to converge).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/test"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// dbCluster is a Cassandra instance of the test harness
// (internal/harness/cassandra, scripts/cassandra.sh's Go side), with the
// CASSANDRA_* settings of the environment (e.g. CASSANDRA_HEAP) under its
// own name, hosts and data centers.
type dbCluster struct {
	*cassandra.Instance
	name  string
	hosts []string
	dcs   []string
}

// dbOpTimeout bounds one operation on the database (each wait phase of
// the harness is bounded by CASSANDRA_START_TIMEOUT as well).
const dbOpTimeout = 10 * time.Minute

// load reads the instance's settings (mode: cassandra.ForStart for a
// start) with extra CASSANDRA_* variables.
func (c *dbCluster) load(t *testing.T, mode cassandra.Mode, extra map[string]string) *cassandra.Instance {
	t.Helper()
	vars := map[string]string{"CASSANDRA_NAME": c.name, "CASSANDRA_HOSTS": strings.Join(c.hosts, ",")}
	if len(c.dcs) > 0 {
		vars["CASSANDRA_DCS"] = strings.Join(c.dcs, ",")
	}
	for k, v := range extra {
		vars[k] = v
	}
	in, err := cassandra.Load(cassandra.EnvWith(vars), mode)
	if err != nil {
		t.Fatalf("database settings: %v", err)
	}
	in.Logf = func(format string, args ...any) { t.Logf("cassandra[%s]: %s", in.Name, fmt.Sprintf(format, args...)) }
	in.Tails = tLogWriter{t}
	return in
}

// tLogWriter sends the log tails of a failed node to the test log.
type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// do runs one operation on the database; it fails the test if the
// operation fails.
func (c *dbCluster) do(t *testing.T, what string, op func(context.Context) error) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dbOpTimeout)
	defer cancel()
	if err := op(ctx); err != nil {
		t.Fatalf("database %s: %v", what, err)
	}
	t.Logf("database %s: %s", what, time.Since(start).Round(100*time.Millisecond))
}

// background runs an operation while the test goes on; wait reports it.
func (c *dbCluster) background(t *testing.T, what string, op func(context.Context) error) (wait func()) {
	done := make(chan error, 1)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dbOpTimeout)
	go func() {
		defer cancel()
		done <- op(ctx)
	}()
	return func() {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("database %s: %v", what, err)
		}
		t.Logf("database %s: %s", what, time.Since(start).Round(100*time.Millisecond))
	}
}

// startDB starts a fresh multi-node instance, stopped and removed when
// the test ends.
func startDB(t *testing.T, name string, hosts []string, dcs ...string) *dbCluster {
	t.Helper()
	c := &dbCluster{name: name, hosts: hosts, dcs: dcs}
	c.Instance = c.load(t, cassandra.ForStart, nil)
	t.Cleanup(func() { c.do(t, "clean", c.Clean) })
	c.do(t, "start", c.Start)
	return c
}

// dbConfig is a store configuration over every node of c, with timeouts
// short enough for a test and a fresh keyspace.
func dbConfig(t *testing.T, c *dbCluster, mod func(*scyllastate.Config)) *scyllastate.Config {
	t.Helper()
	cfg := &scyllastate.Config{
		Hosts:    c.hosts,
		Keyspace: cqltest.Keyspace(t),
		Timeout:  5 * time.Second,
	}
	if mod != nil {
		mod(cfg)
	}
	_ = cfg.Default()
	t.Cleanup(func() { cqltest.DropKeyspace(t, cfg) })
	return cfg
}

// faultPeer is an in-process peer with its REST API on a known port.
type faultPeer struct {
	testPeer
	rest string // http://127.0.0.1:port
}

func newFaultPeer(t *testing.T, db *scyllastate.Config, name string, mod func(*config.Configs)) *faultPeer {
	t.Helper()
	p := &faultPeer{testPeer: testPeer{dir: t.TempDir(), ipfs: test.NewIpfsMock(t)}}
	t.Cleanup(p.ipfs.Close)
	port := freePort(t)
	p.rest = fmt.Sprintf("http://127.0.0.1:%d", port)
	writeConfigWith(t, p.dir, db, p.ipfs, name, func(c *config.Configs) {
		c.Restapi.HTTPListenAddr = []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))}
		// A timeout shorter than the default keeps the test short; the
		// feed overlap must still cover a write's retries.
		c.Scylla.FeedOverlap = db.WriteDeadline() + 10*time.Second
		if mod != nil {
			mod(c)
		}
	})
	p.start(t, service.Options{})
	t.Cleanup(func() { p.stop(t) })
	return p
}

// join connects peers to the first and waits until each sees all.
func join(t *testing.T, peers []*faultPeer) {
	t.Helper()
	tps := make([]*testPeer, len(peers))
	for i, p := range peers {
		tps[i] = &p.testPeer
	}
	joinPeers(t, tps, 60*time.Second)
}

// pinREST pins a CID everywhere through the REST API, as a user would.
func pinREST(client *http.Client, base string, c api.Cid) error {
	resp, err := client.Post(base+"/pins/"+c.String()+"?replication-min=-1&replication-max=-1", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// ingestResult is what an ingest reports.
type ingestResult struct {
	acked   []api.Cid
	failed  map[api.Cid]error
	slowest time.Duration
	took    time.Duration
}

// ingest pins n CIDs from base at concurrency conc; at(i) is called after
// the i-th acknowledgement.
func ingest(t *testing.T, base string, first, n, conc int, at func(acked int)) ingestResult {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Minute}
	var (
		mu    sync.Mutex
		res   = ingestResult{failed: map[api.Cid]error{}}
		next  atomic.Int64
		acked atomic.Int64
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c := statetest.Cid(first + i)
				t0 := time.Now()
				err := pinREST(client, base, c)
				d := time.Since(t0)
				mu.Lock()
				res.slowest = max(res.slowest, d)
				if err != nil {
					res.failed[c] = err
				} else {
					res.acked = append(res.acked, c)
				}
				mu.Unlock()
				if err == nil && at != nil {
					at(int(acked.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	res.took = time.Since(start)
	return res
}

// missing returns the acknowledged CIDs absent from the shared state,
// checked one by one.
func missing(t *testing.T, p *faultPeer, acked []api.Cid) []api.Cid {
	t.Helper()
	ctx := context.Background()
	var out []api.Cid
	for _, c := range acked {
		if _, err := p.peer.Cluster.PinGet(ctx, c); err != nil {
			out = append(out, c)
		}
	}
	return out
}

// converge waits until every peer's IPFS holds every acknowledged pin.
func converge(t *testing.T, peers []*faultPeer, acked []api.Cid, timeout time.Duration) time.Duration {
	t.Helper()
	return waitFor(t, timeout, "every peer's IPFS holds every acknowledged pin", func() bool {
		for _, p := range peers {
			for _, c := range acked {
				if !p.pinnedInIPFS(t, c) {
					return false
				}
			}
		}
		return true
	})
}

func firstErrors(failed map[api.Cid]error, n int) string {
	var out []string
	for c, err := range failed {
		out = append(out, c.String()+": "+err.Error())
		if len(out) == n {
			break
		}
	}
	return strings.Join(out, "\n")
}

func threeNodes(t *testing.T) *dbCluster {
	return startDB(t, "faults3", []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"})
}

func rf3(cfg *scyllastate.Config) { cfg.ReplicationFactor = 3 }

// One of three nodes (RF=3) is killed during a REST ingest at
// concurrency 8, then restarted: no request fails, no acknowledged pin
// is lost, every peer's tracker converges.
func TestFaultNodeKilledDuringIngest(t *testing.T) {
	db := threeNodes(t)
	cfg := dbConfig(t, db, rf3)
	peers := []*faultPeer{newFaultPeer(t, cfg, "a", nil), newFaultPeer(t, cfg, "b", nil)}
	join(t, peers)

	const n = 3000
	var (
		killed, restarted sync.Once
		waitKill          func()
		waitStart         = func() {}
		mu                sync.Mutex
	)
	res := ingest(t, peers[0].rest, 1, n, 8, func(acked int) {
		switch {
		case acked == n/4:
			killed.Do(func() {
				mu.Lock()
				waitKill = db.background(t, "kill-node 2", func(ctx context.Context) error { return db.KillNode(ctx, 2) })
				mu.Unlock()
			})
		case acked == 2*n/3:
			restarted.Do(func() {
				mu.Lock()
				waitStart = db.background(t, "start-node 2", func(ctx context.Context) error { return db.StartNode(ctx, 2) })
				mu.Unlock()
			})
		}
	})
	mu.Lock()
	if waitKill == nil {
		t.Fatal("the node was never killed")
	}
	waitKill()
	waitStart()
	mu.Unlock()
	t.Logf("ingest: %d requests, %d failed, in %s (slowest %s)", n, len(res.failed), res.took.Round(time.Millisecond), res.slowest.Round(time.Millisecond))
	if len(res.failed) > 0 {
		t.Errorf("%d requests failed while one node of three was down:\n%s", len(res.failed), firstErrors(res.failed, 5))
	}
	lost := missing(t, peers[1], res.acked)
	t.Logf("pins lost: %d of %d acknowledged", len(lost), len(res.acked))
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged pins missing from the state, e.g. %s", len(lost), lost[0])
	}
	took := converge(t, peers, res.acked, 2*time.Minute)
	t.Logf("trackers converged %s after the ingest", took.Round(time.Millisecond))
}

// With two of three nodes down, requests fail fast with an error naming
// the cause, and write nothing; once a quorum is back, service is full
// again and every acknowledged pin is intact.
func TestFaultTwoNodesDown(t *testing.T) {
	db := threeNodes(t)
	cfg := dbConfig(t, db, func(c *scyllastate.Config) {
		rf3(c)
		c.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 2, MinRetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
	})
	peer := newFaultPeer(t, cfg, "a", nil)
	before := ingest(t, peer.rest, 1, 200, 8, nil)
	if len(before.failed) > 0 {
		t.Fatalf("%d failed before any fault", len(before.failed))
	}

	db.do(t, "kill-node 2", func(ctx context.Context) error { return db.KillNode(ctx, 2) })
	db.do(t, "kill-node 3", func(ctx context.Context) error { return db.KillNode(ctx, 3) })
	// Wait until the database knows (its failure detector marks the nodes
	// down within ~20s); from then on requests fail fast.
	waitFor(t, 90*time.Second, "a request fails fast", func() bool {
		t0 := time.Now()
		err := pinREST(http.DefaultClient, peer.rest, statetest.Cid(100000))
		return err != nil && time.Since(t0) < 3*time.Second
	})
	down := ingest(t, peer.rest, 5000, 50, 8, nil)
	t.Logf("two nodes down: %d requests, %d failed, slowest %s", 50, len(down.failed), down.slowest.Round(time.Millisecond))
	if len(down.failed) != 50 {
		t.Errorf("%d requests succeeded without a quorum", 50-len(down.failed))
	}
	if down.slowest > 5*time.Second {
		t.Errorf("a failing request took %s: not fast", down.slowest)
	}
	for _, err := range down.failed {
		if !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(strings.ToLower(err.Error()), "consistency") {
			t.Errorf("the error does not name the cause: %v", err)
		}
		break
	}

	db.do(t, "start-node 2", func(ctx context.Context) error { return db.StartNode(ctx, 2) })
	after := ingest(t, peer.rest, 6000, 200, 8, nil)
	t.Logf("quorum back: %d requests, %d failed", 200, len(after.failed))
	if len(after.failed) > 0 {
		t.Errorf("%d requests failed with a quorum back:\n%s", len(after.failed), firstErrors(after.failed, 3))
	}
	db.do(t, "start-node 3", func(ctx context.Context) error { return db.StartNode(ctx, 3) })
	acked := append(before.acked, after.acked...)
	if lost := missing(t, peer, acked); len(lost) > 0 {
		t.Fatalf("%d acknowledged pins lost", len(lost))
	}
	// Nothing half-written. A refused request's outcome is unknown (the
	// database may have written its event): each refused pin is either
	// a complete change (its event, its row and the peer's IPFS) or no
	// change at all, once the store has finished what it retries.
	// The probe pin of the wait above timed out while the nodes were
	// not yet known down: the likeliest to have landed on one replica.
	refused := []api.Cid{statetest.Cid(100000)}
	for c := range down.failed {
		refused = append(refused, c)
	}
	halfWritten(t, cfg, peer, refused, time.Now().Add(-time.Hour))
}

// halfWritten fails t unless, within a minute, every CID of cids is either
// a whole change (an event in the feed, its pin row, pinned in the peer's
// IPFS) or nothing at all (no event, no row, not pinned).
func halfWritten(t *testing.T, cfg *scyllastate.Config, p *faultPeer, cids []api.Cid, since time.Time) {
	t.Helper()
	ctx := context.Background()
	st := cqltest.New(t, cfg)
	defer st.Close()
	var (
		report     string
		done, none int
	)
	check := func() bool {
		inFeed := map[string]bool{}
		err := st.Feed().Events(ctx, since, time.Now().Add(time.Minute), func(e scyllastate.Event) error {
			inFeed[e.Cid.KeyString()] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		report, done, none = "", 0, 0
		for _, c := range cids {
			row, err := st.Has(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			event, pinned := inFeed[c.KeyString()], p.pinnedInIPFS(t, c)
			switch {
			case event && row && pinned:
				done++
			case !event && !row && !pinned:
				none++
			default:
				report = fmt.Sprintf("%s: event %v, row %v, pinned in IPFS %v", c, event, row, pinned)
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(time.Minute); !check(); time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("half-written change after a minute: %s", report)
		}
	}
	t.Logf("%d refused pins: %d completed later (their outcome was unknown), %d never happened, none half-written", len(cids), done, none)
}

// The whole database stops and starts again under three running peers:
// they reconnect by themselves, pins made during the outage fail clearly,
// pins made after it reach every peer.
func TestFaultDatabaseRestartUnderPeers(t *testing.T) {
	db := threeNodes(t)
	cfg := dbConfig(t, db, rf3)
	peers := []*faultPeer{newFaultPeer(t, cfg, "a", nil), newFaultPeer(t, cfg, "b", nil), newFaultPeer(t, cfg, "c", nil)}
	join(t, peers)

	db.do(t, "stop", db.Stop)
	outage := ingest(t, peers[0].rest, 1, 10, 4, nil)
	t.Logf("database stopped: %d requests, %d failed", 10, len(outage.failed))
	if len(outage.failed) != 10 {
		t.Errorf("%d pins succeeded with the database stopped", 10-len(outage.failed))
	}
	for _, err := range outage.failed {
		t.Logf("error during the outage: %v", err)
		break
	}
	restartDB(t, db)
	start := time.Now()
	var res ingestResult
	waitFor(t, 2*time.Minute, "pins work again", func() bool {
		res = ingest(t, peers[1].rest, 100, 20, 4, nil)
		return len(res.failed) == 0
	})
	t.Logf("service back %s after the database", time.Since(start).Round(time.Millisecond))
	took := converge(t, peers, res.acked, time.Minute)
	t.Logf("pins made after the restart reached every peer in %s", took.Round(time.Millisecond))
}

// restartDB starts a stopped instance again with its data.
func restartDB(t *testing.T, db *dbCluster) {
	t.Helper()
	again := db.load(t, cassandra.ForStart, map[string]string{"CASSANDRA_KEEP_DATA": "1"})
	db.do(t, "start (data kept)", again.Start)
}

// socketCount counts this process's open sockets.
func socketCount(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(link, "socket:") {
			n++
		}
	}
	return n
}

// A node paused longer than the timeout: requests time out and are
// retried as configured, and once it resumes no goroutine or connection
// is left behind.
func TestFaultPausedNode(t *testing.T) {
	db := threeNodes(t)
	cfg := dbConfig(t, db, func(c *scyllastate.Config) {
		rf3(c)
		c.Timeout = 2 * time.Second
		c.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 3, MinRetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
	})
	peer := newFaultPeer(t, cfg, "a", nil)
	warm := ingest(t, peer.rest, 1, 200, 8, nil)
	if len(warm.failed) > 0 {
		t.Fatalf("%d failed before any fault", len(warm.failed))
	}
	time.Sleep(2 * time.Second)
	runtime.GC()
	goroutines, sockets := runtime.NumGoroutine(), socketCount(t)

	db.do(t, "pause-node 2", func(context.Context) error { db.PauseNode(2); return nil })
	paused := ingest(t, peer.rest, 1000, 300, 8, nil)
	time.Sleep(3 * cfg.Timeout)
	db.do(t, "resume-node 2", func(ctx context.Context) error { return db.ResumeNode(ctx, 2) })
	t.Logf("node paused %s: %d requests, %d failed, slowest %s", paused.took.Round(time.Millisecond), 300, len(paused.failed), paused.slowest.Round(time.Millisecond))
	if len(paused.failed) > 0 {
		t.Errorf("%d requests failed with one node of three paused:\n%s", len(paused.failed), firstErrors(paused.failed, 3))
	}
	after := ingest(t, peer.rest, 2000, 100, 8, nil)
	if len(after.failed) > 0 {
		t.Errorf("%d requests failed after the resume", len(after.failed))
	}
	var g, s int
	waitFor(t, time.Minute, "goroutines and sockets back to their count before the pause", func() bool {
		runtime.GC()
		g, s = runtime.NumGoroutine(), socketCount(t)
		return g <= goroutines+5 && s <= sockets+2
	})
	t.Logf("goroutines %d -> %d, sockets %d -> %d", goroutines, g, sockets, s)
}

// Two data centers of two nodes each, peers in each with local_dc and
// LOCAL_QUORUM: a pin made in dc1 is tracked by the dc2 peer, an unpin
// too; and changes made while dc2 is cut off for longer than
// feed_overlap reach the dc2 peer once it is back, unpins included.
func TestFaultTwoDataCenters(t *testing.T) {
	db := startDB(t, "faults2dc", []string{"127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"}, "dc1", "dc1", "dc2", "dc2")
	base := dbConfig(t, db, func(c *scyllastate.Config) {
		c.ReplicationStrategy = scyllastate.NetworkTopologyStrategy
		c.DCReplication = map[string]int{"dc1": 2, "dc2": 2}
		c.EventConsistency = "EACH_QUORUM"
		c.Timeout = 2 * time.Second
		c.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 1, MinRetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
	})
	inDC := func(dc string, hosts ...string) *scyllastate.Config {
		c := *base
		c.Hosts = hosts
		c.DCAwareRouting, c.LocalDC = true, dc
		return &c
	}
	a := newFaultPeer(t, inDC("dc1", "127.0.0.31", "127.0.0.32"), "a", nil)
	b := newFaultPeer(t, inDC("dc2", "127.0.0.33", "127.0.0.34"), "b", nil)
	join(t, []*faultPeer{a, b})
	ctx := context.Background()

	p1, p2, p3 := statetest.Cid(1), statetest.Cid(2), statetest.Cid(3)
	for _, c := range []api.Cid{p1, p2} {
		if _, err := a.peer.Cluster.Pin(ctx, c, everywhere()); err != nil {
			t.Fatal(err)
		}
	}
	took := waitFor(t, 30*time.Second, "dc2's peer pins what dc1's pinned", func() bool { return b.pinnedInIPFS(t, p1) && b.pinnedInIPFS(t, p2) })
	t.Logf("pin in dc1 -> pinned in dc2 after %s", took.Round(time.Millisecond))
	if _, err := a.peer.Cluster.Unpin(ctx, p1); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, 30*time.Second, "dc2's peer unpins what dc1's unpinned", func() bool { return !b.pinnedInIPFS(t, p1) })
	t.Logf("unpin in dc1 -> unpinned in dc2 after %s", took.Round(time.Millisecond))

	// dc2 is cut off for longer than feed_overlap while dc1 keeps working.
	cut := 3 * a.overlap(t)
	db.do(t, "pause-dc dc2", func(context.Context) error { return db.PauseDC("dc2") })
	cutAt := time.Now()
	if _, err := a.peer.Cluster.Unpin(ctx, p2); err != nil {
		t.Fatalf("unpin in dc1 with dc2 cut off: %v", err)
	}
	if _, err := a.peer.Cluster.Pin(ctx, p3, everywhere()); err != nil {
		t.Fatalf("pin in dc1 with dc2 cut off: %v", err)
	}
	time.Sleep(time.Until(cutAt.Add(cut)))
	db.do(t, "resume-dc dc2", func(ctx context.Context) error { return db.ResumeDC(ctx, "dc2") })
	took = waitFor(t, 3*time.Minute, "dc2's peer applies the changes made while it was cut off", func() bool {
		return !b.pinnedInIPFS(t, p2) && b.pinnedInIPFS(t, p3)
	})
	t.Logf("dc2 cut off %s (feed_overlap %s): changes applied %s after it came back", cut, a.overlap(t), took.Round(time.Millisecond))
}

func (p *faultPeer) overlap(t *testing.T) time.Duration {
	t.Helper()
	h := loadHelper(t, p.dir)
	return h.Configs().Scylla.FeedOverlap
}
