//go:build scylla && integration

package service_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// requestCounter counts the requests (statements and batches) the stores
// of this process send, and each statement's.
type requestCounter struct {
	n      atomic.Int64
	mu     sync.Mutex
	counts map[string]int64
}

func (r *requestCounter) add(what string) {
	r.n.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int64{}
	}
	r.counts[what]++
}

func (r *requestCounter) ObserveQuery(_ context.Context, q gocql.ObservedQuery) { r.add(q.Statement) }
func (r *requestCounter) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	r.add(fmt.Sprintf("batch of %d: %s", len(b.Statements), b.Statements[0]))
}

// since returns the statements counted since before, most frequent first.
func (r *requestCounter) since(before map[string]int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type kv struct {
		k string
		v int64
	}
	var out []kv
	for k, v := range r.counts {
		if d := v - before[k]; d > 0 {
			out = append(out, kv{k, d})
		}
	}
	slices.SortFunc(out, func(a, b kv) int { return int(b.v - a.v) })
	var sb strings.Builder
	for _, e := range out[:min(len(out), 8)] {
		fmt.Fprintf(&sb, "\n  %6d  %.110s", e.v, e.k)
	}
	return sb.String()
}

func (r *requestCounter) snapshot() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

// idleRequests returns the database requests per peer per minute of a
// cluster of n peers that changes nothing, measured over window after the
// feed's polls have backed off.
func idleRequests(t *testing.T, n int, window time.Duration) (perPeerMinute float64, peers []*testPeer) {
	t.Helper()
	var count requestCounter
	restore := seams.SetCQLObserver(&count, &count)
	peers = newCluster(t, n)
	restore() // the peers' sessions keep counting
	// One change, so that every peer's writer, feed and hints are in the
	// state of a cluster in use, then quiet: the polls back off.
	ctx := context.Background()
	c := statetest.Cid(900 + n)
	if _, err := peers[0].peer.Cluster.Pin(ctx, c, everywhere()); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		waitFor(t, 20*time.Second, fmt.Sprintf("%s pinned by %s", c, p.dir), func() bool { return p.pinnedInIPFS(t, c) })
	}
	time.Sleep(15 * time.Second)
	before, stmts := count.n.Load(), count.snapshot()
	time.Sleep(window)
	got := float64(count.n.Load()-before) / float64(n) / window.Minutes()
	t.Logf("%d idle peers: %.1f database requests per peer per minute; the most sent in %s:%s", n, got, window, count.since(stmts))
	return got, peers
}

// Twenty-four peers share one keyspace: a pin made through any of them
// reaches every peer's IPFS within seconds, and what an idle peer asks of
// the database does not grow with the number of peers (the benchmark
// bench/compare -many-peers measures the same with real daemons and
// times it at millisecond resolution).
func TestTwentyFourPeersOnOneKeyspace(t *testing.T) {
	const window = 30 * time.Second
	small, three := idleRequests(t, 3, window)
	for _, p := range three {
		p.stop(t)
	}
	large, peers := idleRequests(t, 24, window)
	// Per peer: polls backed off to one per 10 s, a sweep per feed_overlap,
	// a checkpoint per checkpoint_interval, a slice repair per
	// repair_interval/recover_slices, the writer's heartbeat. None of them
	// depends on the number of peers; allow for noise.
	if large > 1.5*small+5 {
		t.Errorf("an idle peer sends %.1f requests per minute among 24 peers and %.1f among 3: it grows with the number of peers", large, small)
	}
	// About 70 today, most of them the slice repair's token-range reads
	// (one slice every repair_interval/recover_slices, in list_concurrency
	// ranges): twice that is a regression.
	if large > 150 {
		t.Errorf("an idle peer sends %.1f requests per minute (more than 150)", large)
	}

	ctx := context.Background()
	var took []time.Duration
	for i, p := range peers {
		c := statetest.Cid(1000 + i)
		start := time.Now()
		if _, err := p.peer.Cluster.Pin(ctx, c, everywhere()); err != nil {
			t.Fatal(err)
		}
		for _, q := range peers {
			waitFor(t, 10*time.Second, fmt.Sprintf("%s (pinned through %s) pinned by %s", c, p.dir, q.dir), func() bool { return q.pinnedInIPFS(t, c) })
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p50, worst := took[len(took)/2], took[len(took)-1]
	t.Logf("a pin through one of 24 peers is pinned by all 24: p50 %s, max %s (%d pins)", p50.Round(time.Millisecond), worst.Round(time.Millisecond), len(took))
	// Hints wake every peer at once; a peer whose hint is lost polls
	// within its backed-off interval (10 s). On a loaded 2-core machine
	// running 24 peers and the database, a few seconds is the bound a
	// user would notice.
	if worst > 5*time.Second {
		t.Errorf("a pin took %s to reach every one of 24 peers (p50 %s)", worst, p50)
	}
}
