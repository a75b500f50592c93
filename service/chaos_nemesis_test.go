//go:build scylla && integration && faults

package service_test

// The nemesis of a chaos run: two lanes of faults on a schedule drawn
// from the seed. The database lane pauses (SIGSTOP) and resumes nodes,
// kills and restarts nodes, and cuts a data center off (pauses all its
// nodes); the peer lane stops and restarts peers and changes the clock
// offsets of the writers. Each lane has one fault at a time; the lanes
// overlap. Every fault is logged with its time and healed before the
// lane ends, also when the test fails.

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
)

// faultRecord is one fault: when it was injected, how long it was held,
// and how long its injection and its healing took.
type faultRecord struct {
	Lane   string        `json:"lane"`
	Kind   string        `json:"kind"`
	Target string        `json:"target"`
	At     time.Duration `json:"at_ns"`
	Held   time.Duration `json:"held_ns"`
	Err    string        `json:"error,omitempty"`
}

func (f faultRecord) String() string {
	s := fmt.Sprintf("%8.3fs %-4s %s %s", f.At.Seconds(), f.Lane, f.Kind, f.Target)
	if f.Held > 0 {
		s += fmt.Sprintf(" for %s", f.Held.Round(100*time.Millisecond))
	}
	if f.Err != "" {
		s += ": ERROR " + f.Err
	}
	return s
}

// nemesis injects and heals the faults of a run.
type nemesis struct {
	r *chaosRun

	mu     sync.Mutex
	faults []faultRecord
	// undo holds the database faults in place, by the dbFaults
	// command and argument that undo them ("resume-dc dc1",
	// "resume-node 2", "start-node 3"): sorted, data centers first.
	undo    map[string]bool
	stopped map[int]bool // peers (0-based) stopped
	errs    []string
}

func newNemesis(r *chaosRun) *nemesis {
	return &nemesis{r: r, undo: map[string]bool{}, stopped: map[int]bool{}}
}

// record logs a fault as it is injected.
func (n *nemesis) record(f faultRecord) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = append(n.faults, f)
	n.r.logf("nemesis: %s", f)
	return len(n.faults) - 1
}

// held sets how long a fault lasted, once healed.
func (n *nemesis) held(i int, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults[i].Held = d
}

func (n *nemesis) failed(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.errs = append(n.errs, msg)
	n.mu.Unlock()
	n.r.logf("nemesis: ERROR %s", msg)
}

// snapshot returns the faults so far and the errors.
func (n *nemesis) snapshot() ([]faultRecord, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]faultRecord(nil), n.faults...), append([]string(nil), n.errs...)
}

// countFaults returns the faults by kind.
func countFaults(fs []faultRecord) map[string]int {
	n := map[string]int{}
	for _, f := range fs {
		n[f.Kind]++
	}
	return n
}

// dbFaults are the database faults of the nemesis, named as the commands
// of scripts/cassandra.sh, on the harness's instance (target: a node
// number or a data center).
var dbFaults = map[string]func(ctx context.Context, in *cassandra.Instance, target string) error{
	"pause-node": func(_ context.Context, in *cassandra.Instance, target string) error {
		node, err := in.Node(target)
		if err == nil {
			in.PauseNode(node)
		}
		return err
	},
	"resume-node": func(ctx context.Context, in *cassandra.Instance, target string) error {
		node, err := in.Node(target)
		if err != nil {
			return err
		}
		return in.ResumeNode(ctx, node)
	},
	"kill-node": func(ctx context.Context, in *cassandra.Instance, target string) error {
		node, err := in.Node(target)
		if err != nil {
			return err
		}
		return in.KillNode(ctx, node)
	},
	"start-node": func(ctx context.Context, in *cassandra.Instance, target string) error {
		node, err := in.Node(target)
		if err != nil {
			return err
		}
		return in.StartNode(ctx, node)
	},
	"pause-dc": func(_ context.Context, in *cassandra.Instance, target string) error {
		return in.PauseDC(target)
	},
	"resume-dc": func(ctx context.Context, in *cassandra.Instance, target string) error {
		return in.ResumeDC(ctx, target)
	},
}

// fault runs one of dbFaults on the run's database, bounded.
func (n *nemesis) fault(cmd, target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, ok := dbFaults[cmd]
	if !ok {
		return fmt.Errorf("no database fault %q", cmd)
	}
	if err := f(ctx, n.r.db.Instance, target); err != nil {
		return fmt.Errorf("%s %s: %w", cmd, target, err)
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether ctx is still on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int63n(int64(hi-lo)+1))
}

// hold waits for the fault's duration (cut short when the run ends) and
// returns how long it waited.
func hold(ctx context.Context, d time.Duration) time.Duration {
	start := time.Now()
	sleep(ctx, d)
	return time.Since(start)
}

// dbLane injects database faults one at a time until ctx ends, then
// heals the last one.
func (n *nemesis) dbLane(ctx context.Context, rng *rand.Rand) {
	nodes := len(n.r.db.hosts)
	dcs := n.r.dcNames()
	for sleep(ctx, between(rng, 2*time.Second, 8*time.Second)) {
		switch x := rng.Intn(100); {
		case x < 40:
			node := 1 + rng.Intn(nodes)
			d := between(rng, 2*time.Second, 12*time.Second)
			n.dbFault(ctx, "pause-node", "resume-node", fmt.Sprint(node), d)
		case x < 65:
			node := 1 + rng.Intn(nodes)
			d := between(rng, 3*time.Second, 15*time.Second)
			n.dbFault(ctx, "kill-node", "start-node", fmt.Sprint(node), d)
		default:
			dc := dcs[rng.Intn(len(dcs))]
			// Sometimes longer than feed_overlap: the changes made
			// meanwhile reach that DC late.
			d := between(rng, 3*time.Second, 2*n.r.feedOverlap)
			n.dbFault(ctx, "pause-dc", "resume-dc", dc, d)
		}
	}
}

// dbFault injects the dbFaults fault do on target (a node number or a data
// center), holds it for d, then undoes it with the fault undo.
func (n *nemesis) dbFault(ctx context.Context, do, undo, target string, d time.Duration) {
	i := n.record(faultRecord{Lane: "db", Kind: do, Target: n.targetName(target), At: n.r.history.now()})
	if err := n.fault(do, target); err != nil {
		n.failed("%v", err)
	}
	key := undo + " " + target
	n.mu.Lock()
	n.undo[key] = true
	n.mu.Unlock()
	n.held(i, hold(ctx, d))
	n.undoFault(key)
}

// targetName names a fault's target: a node by its name, a data center
// as it is.
func (n *nemesis) targetName(target string) string {
	if node, err := strconv.Atoi(target); err == nil {
		return n.r.nodeName(node)
	}
	return target
}

// undoFault runs the dbFaults command of an undo key.
func (n *nemesis) undoFault(key string) {
	cmd, target, _ := strings.Cut(key, " ")
	at := n.r.history.now()
	err := n.fault(cmd, target)
	n.r.logf("nemesis: %8.3fs db   %s %s (%s)%s", at.Seconds(), cmd, n.targetName(target), (n.r.history.now() - at).Round(100*time.Millisecond), errSuffix(err))
	if err != nil {
		n.failed("%v", err)
		return
	}
	n.mu.Lock()
	delete(n.undo, key)
	n.mu.Unlock()
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": ERROR " + err.Error()
}

// skews are the clock offsets the peer lane draws from.
var skews = []time.Duration{-2 * time.Second, -time.Second, 0, 0, time.Second, 3 * time.Second, 5 * time.Second}

// peerLane stops and restarts peers and changes writers' clocks, one
// fault at a time, until ctx ends; then it restarts the stopped peer.
func (n *nemesis) peerLane(ctx context.Context, rng *rand.Rand) {
	peers := n.r.peers
	for sleep(ctx, between(rng, 3*time.Second, 10*time.Second)) {
		p := rng.Intn(len(peers))
		if rng.Intn(100) < 55 {
			d := between(rng, 2*time.Second, 15*time.Second)
			n.stopPeer(ctx, p, d)
			continue
		}
		off := skews[rng.Intn(len(skews))]
		n.record(faultRecord{Lane: "peer", Kind: "clock-skew", Target: fmt.Sprintf("%s %+v", peers[p].name, off), At: n.r.history.now()})
		n.r.clocks.set(peers[p].id, off)
	}
}

func (n *nemesis) stopPeer(ctx context.Context, i int, d time.Duration) {
	p := n.r.peers[i]
	f := n.record(faultRecord{Lane: "peer", Kind: "stop-peer", Target: p.name, At: n.r.history.now()})
	if err := p.shutdown(); err != nil {
		n.failed("stopping peer %s: %v", p.name, err)
	}
	n.mu.Lock()
	n.stopped[i] = true
	n.mu.Unlock()
	n.held(f, hold(ctx, d))
	n.startPeer(i, 90*time.Second)
}

// startPeer starts a stopped peer and waits for it to be ready. A peer
// not ready in time (its DC without a quorum, say) keeps starting: the
// lane goes on, and healAll waits for it once every fault is healed.
func (n *nemesis) startPeer(i int, ready time.Duration) {
	p := n.r.peers[i]
	at := n.r.history.now()
	err := p.start()
	if err != nil {
		n.r.logf("nemesis: %8.3fs peer start-peer %s: ERROR %v (tried again at the heal)", at.Seconds(), p.name, err)
		return
	}
	n.mu.Lock()
	delete(n.stopped, i)
	n.mu.Unlock()
	if err := p.waitReady(ready); err != nil {
		n.r.logf("nemesis: %8.3fs peer start-peer %s: %v", at.Seconds(), p.name, err)
		if errors.Is(err, errGaveUp) {
			// An outage of the database is no reason to quit for good:
			// a finding. Started again at the heal.
			n.failed("availability: peer %s, started at %.3fs during the faults, gave up instead of waiting for the database: %v", p.name, at.Seconds(), err)
			_ = p.shutdown()
			n.mu.Lock()
			n.stopped[i] = true
			n.mu.Unlock()
		}
		return
	}
	err = p.join(n.r.runningPeer(i))
	n.r.logf("nemesis: %8.3fs peer start-peer %s: ready in %s%s", at.Seconds(), p.name, (n.r.history.now() - at).Round(100*time.Millisecond), errSuffix(err))
}

// healAll undoes every fault still in place: nodes resumed and started,
// peers started, clocks set right. The lanes have ended.
func (n *nemesis) healAll() {
	n.mu.Lock()
	undo, stopped := keys(n.undo), keys(n.stopped)
	n.mu.Unlock()
	for _, key := range undo {
		n.undoFault(key)
	}
	for _, i := range stopped {
		if err := n.r.peers[i].start(); err != nil {
			n.failed("starting peer %s once every fault was healed: %v", n.r.peers[i].name, err)
		}
	}
	healed := time.Now()
	for i, p := range n.r.peers {
		if p.running() == nil || p.ready() {
			continue
		}
		err := p.waitReady(3 * time.Minute)
		if errors.Is(err, errGaveUp) {
			n.failed("availability: peer %s gave up its start once every fault was healed: %v", p.name, err)
			_ = p.shutdown()
			if err = p.start(); err == nil {
				err = p.waitReady(3 * time.Minute)
			}
		}
		if err != nil {
			n.failed("peer %s, once every fault was healed: %v", p.name, err)
			continue
		}
		n.r.logf("nemesis: peer %s ready %s after the heal", p.name, time.Since(healed).Round(100*time.Millisecond))
		if err := p.join(n.r.runningPeer(i)); err != nil {
			n.r.logf("nemesis: peer %s: %v", p.name, err)
		}
	}
	for _, p := range n.r.peers {
		n.r.clocks.set(p.id, 0)
	}
	n.r.logf("nemesis: %8.3fs every fault healed, clocks set right", n.r.history.now().Seconds())
}

func keys[K string | int, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
