package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// firstPassDone is what a peer of ours logs once the paced pass of its
// first start has queued its share of the pinset (consensus/scylla
// upkeep.go: "recover pass over the whole pinset done in 6s: ..."): from
// then on it is idle but for its periodic work.
const firstPassDone = "recover pass over the whole pinset done in"

// reachPace is the interval between the REST adds of the pins timed to
// every tracker: far below the add rate, so that they measure the
// latency of a change reaching every peer, not a queue.
const reachPace = 100 * time.Millisecond

// addLoadQuery are the options of the pins of the REST add runs of 1 and
// of N peers: one copy each (allocated to one peer), so that both runs
// ask kubo the same work per pin and the N-peer run measures what the
// other peers add (each reads and applies every change). With replication
// -1, N peers on one machine would pin N copies of each pin on one CPU.
const addLoadQuery = "replication-min=1&replication-max=1"

// reachLimit is how long the phase waits, after the last timed pin, for
// every peer to have every pin.
const reachLimit = 30 * time.Second

// manyPeers is the N-peer phase: N peers of ours, one process
// each, on one keyspace holding an imported pinset, sharing a few kubo
// daemons. It times a new pin to every peer's tracker, compares the REST
// add rate of 1 and of N peers, and measures what N idle peers cost the
// database and how often each reads the change feed.
type manyPeers struct {
	h        *harness
	be       *backend
	cfg      manyConfig
	dir      string
	keyspace string
	settings peerSettings
	kubos    []*kubo.Daemon
	taps     []*kuboTap // one per peer, in peer order
	peers    []*peer
	metrics  []int    // Prometheus port of each peer
	reach    []string // the CIDs timed to every tracker
	started  time.Time
	// lastWrite is when the last phase that wrote pins ended.
	lastWrite time.Time
}

// sweptAfter is how long after the last write the peers' sweeps still
// re-read it: every feed_overlap, a peer re-reads the change feed's last
// 2 x feed_overlap. The peers run with the default feed_overlap, one
// minute (consensus.scylla.feed_overlap).
const sweptAfter = 2*time.Minute + 5*time.Second

func (m *manyPeers) set(key string, v float64) { m.h.run.set(m.be.Name, m.cfg.size, key, v) }

func (m *manyPeers) progress(format string, args ...any) {
	logf("%d peers %s: %s", m.cfg.peers, sizeLabel(m.cfg.size), fmt.Sprintf(format, args...))
}

// timeout is the budget of a step that scales with the pinset.
func (m *manyPeers) timeout() time.Duration {
	return 2*time.Minute + time.Duration(float64(m.cfg.size)*m.h.cfg.timeoutPerPin)
}

// runManyPeers runs the N-peer phase with backend be (ours). A failed
// step is reported; a failed critical step ends the phase.
func (h *harness) runManyPeers(ctx context.Context, be *backend) error {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	m := &manyPeers{h: h, be: be, cfg: h.cfg.many,
		dir:      filepath.Join(h.work, fmt.Sprintf("many-%d-%s", h.cfg.many.peers, sizeLabel(h.cfg.many.size))),
		keyspace: "bench_many_" + hex.EncodeToString(secret[:6])}
	m.settings = peerSettings{Secret: hex.EncodeToString(secret), SyncInterval: m.cfg.idleWindow,
		DBHosts: h.cfg.dbHosts, DBPort: h.cfg.dbPort, Keyspace: m.keyspace}
	h.run.Settings.ManyPeers = ManyPeersSettings{Peers: m.cfg.peers, Size: m.cfg.size, Replication: m.cfg.replication,
		Kubos: m.cfg.kubos, ReachPins: m.cfg.reachPins, IdleWindowS: m.cfg.idleWindow.Seconds(), Together: m.cfg.together}
	if !slices.Contains(h.run.Backends, be.Name) {
		h.run.Backends = append(h.run.Backends, be.Name)
	}
	defer m.cleanup()
	t0 := time.Now()
	steps := []step{
		{"setup", nil, m.setup, true},
		{"state import", []string{"many.import.secs"}, m.importPhase, true},
	}
	if !m.cfg.together {
		steps = append(steps, step{"1 peer", []string{"many.add1.rate"}, m.onePeer, true})
	}
	steps = append(steps,
		step{"start of the others", []string{"many.ready.all"}, m.startOthers, true},
		step{"idle", []string{"many.idle.dbcpu", "many.idle.feedreads"}, m.idle, false},
		step{"reach", []string{"many.reach.p99"}, m.reachPhase, false},
		step{"REST pin add", []string{"many.addN.rate", "many.add.ratio"}, m.addN, false},
	)
	err := h.runSteps(ctx, be.Name, m.cfg.size, fmt.Sprintf("%d peers %s", m.cfg.peers, sizeLabel(m.cfg.size)), m.progress, steps)
	if err != nil {
		return err
	}
	m.progress("done in %s", time.Since(t0).Round(time.Second))
	_ = h.run.saveJSON(filepath.Join(h.work, "partial.json"))
	return nil
}

// setup starts the shared kubos and one tap per peer, and inits the
// peers with their metrics endpoint on (for the feed's read counts).
func (m *manyPeers) setup(ctx context.Context) error {
	m.progress("setting up %d peers sharing %d kubo", m.cfg.peers, m.cfg.kubos)
	series := fmt.Sprintf("reach-%s-%d", sizeLabel(m.cfg.size), m.h.run.Started.Unix())
	m.reach = genPinnableCIDs(series, m.cfg.reachPins)
	watch := make(map[string]bool, len(m.reach))
	for _, c := range m.reach {
		watch[c] = true
	}
	for i := range m.cfg.kubos {
		k, err := kubo.StartOffline(ctx, m.h.ps, m.h.cfg.ipfsBin, filepath.Join(m.dir, fmt.Sprintf("kubo%d", i)))
		if err != nil {
			return err
		}
		m.kubos = append(m.kubos, k)
	}
	for i := range m.cfg.peers {
		tap, err := startKuboTap(m.kubos[i%len(m.kubos)].APIPort, watch)
		if err != nil {
			return err
		}
		m.taps = append(m.taps, tap)
		name := fmt.Sprintf("peer%d", i)
		p, err := initPeer(ctx, m.be, name, filepath.Join(m.dir, name), &kubo.Daemon{APIPort: tap.port}, m.settings)
		if err != nil {
			return err
		}
		if err := p.enableMetrics(); err != nil {
			return err
		}
		m.peers = append(m.peers, p)
		m.metrics = append(m.metrics, p.metricsPort)
	}
	return nil
}

// importPhase writes a pinset allocated round robin over the peers
// (replication -many-peers-rf), or to a peer outside the cluster (rf 0),
// and imports it into the fresh keyspace.
func (m *manyPeers) importPhase(ctx context.Context) error {
	ids := make([]string, len(m.peers))
	for i, p := range m.peers {
		ids[i] = p.id
	}
	rf := m.cfg.replication
	if rf == 0 {
		// Allocated to a peer outside the cluster: no peer tracks them.
		id, err := outsidePeer()
		if err != nil {
			return err
		}
		ids, rf = []string{id}, 1
	}
	pinset := filepath.Join(m.dir, "pinset.ndjson")
	m.progress("generating %d pins (%s)", m.cfg.size, allocationText(m.cfg.replication))
	if err := writeAllocatedPinset(pinset, fmt.Sprintf("many-%d", m.cfg.size), m.cfg.size, rf, ids); err != nil {
		return err
	}
	defer os.Remove(pinset)
	m.progress("state import of %d pins", m.cfg.size)
	meter := startMeter(nil, m.h.db, 500*time.Millisecond)
	res, err := m.peers[0].cli(ctx, m.timeout(), "import.log", "state", "import", "--force", pinset)
	c := meter.stop().withCLI(res)
	if err != nil {
		return err
	}
	m.h.run.recordCost(m.be.Name, m.cfg.size, "many.import", c)
	m.set("many.import.secs", res.Wall.Seconds())
	m.progress("state import: %.1f s", res.Wall.Seconds())
	m.lastWrite = time.Now()
	return nil
}

// waitFirstPass waits for the paced pass of p's first start to end.
func (m *manyPeers) waitFirstPass(ctx context.Context, p *peer) error {
	w := proc.NewLogWatch(p.proc.LogPath, firstPassDone)
	if err := proc.WaitFor(ctx, m.timeout(), p.proc, func(context.Context) bool { return w.Found() }); err != nil {
		return fmt.Errorf("%s: waiting for %q: %w", p.name, firstPassDone, err)
	}
	return nil
}

// onePeer starts peer0 alone and measures the REST add rate of one peer
// on this keyspace: the reference of the N-peer rate.
func (m *manyPeers) onePeer(ctx context.Context) error {
	p0 := m.peers[0]
	m.progress("starting %s alone", p0.name)
	if err := p0.start(m.h.ps); err != nil {
		return err
	}
	ready, err := p0.waitReady(ctx, m.timeout())
	if err != nil {
		return err
	}
	if err := m.waitFirstPass(ctx, p0); err != nil {
		return err
	}
	m.set("many.ready.first", ready.Seconds())
	_, err = m.addLoad(ctx, "add1", m.peers[:1])
	m.lastWrite = time.Now()
	return err
}

// addLoad adds -rest-pins new pins round robin over peers at -clients
// clients and records rate, latencies and cost under many.<prefix>.
func (m *manyPeers) addLoad(ctx context.Context, prefix string, peers []*peer) (float64, error) {
	series := fmt.Sprintf("many-%s-%s-%d", prefix, sizeLabel(m.cfg.size), m.h.run.Started.Unix())
	if _, err := waitWritable(ctx, peers[0], "warmup-"+series); err != nil {
		return 0, err
	}
	ports := make([]int, len(peers))
	for i, p := range peers {
		ports[i] = p.restPort
	}
	cids := genPinnableCIDs(series, m.h.cfg.restPins)
	m.progress("REST pin add: %d pins at %d clients over %d peers", len(cids), m.h.cfg.clients, len(peers))
	meter := startMeter(m.pids(), m.h.db, 500*time.Millisecond)
	res := runAddLoad(ctx, ports, cids, addLoadQuery, m.h.cfg.clients, nil)
	c := meter.stop()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	ok := len(res.Latencies)
	if ok == 0 {
		return 0, fmt.Errorf("every REST pin add failed, first error: %v", res.FirstErr)
	}
	key := "many." + prefix
	rate := perSecond(ok, res.Wall)
	m.set(key+".rate", rate)
	m.set(key+".p50", percentile(res.Latencies, 0.50).Seconds()*1000)
	m.set(key+".p99", percentile(res.Latencies, 0.99).Seconds()*1000)
	m.set(key+".errors", float64(res.Errors))
	m.set(key+".cpu.pin", cpuPerPin(c.PeerCPU, c.DBCPU, ok))
	m.set(key+".dbcpu", cpuPerPin(0, c.DBCPU, ok))
	m.h.run.recordCost(m.be.Name, m.cfg.size, key, c)
	if res.Errors > 0 {
		m.h.run.note(fmt.Sprintf("%d peers %s: %s: %d of %d REST pin adds failed, first error: %v",
			m.cfg.peers, sizeLabel(m.cfg.size), prefix, res.Errors, len(cids), res.FirstErr))
	}
	m.progress("%s: %.0f pins/s, p99 %.1f ms, %.0f µs CPU per pin (peers + database), %d errors", prefix, rate,
		percentile(res.Latencies, 0.99).Seconds()*1000, cpuPerPin(c.PeerCPU, c.DBCPU, ok), res.Errors)
	return rate, nil
}

// pids are the running peers' process IDs.
func (m *manyPeers) pids() map[string]int {
	out := map[string]int{}
	for _, p := range m.peers {
		if p.proc != nil && !p.proc.Exited() {
			out[p.name] = p.proc.PID()
		}
	}
	return out
}

// startOthers starts the other N-1 peers at once, bootstrapped to peer0,
// and waits for every one to be ready, to finish its first pass and for
// peer0 to see them all. With -many-peers-together, peer0 starts with
// them.
func (m *manyPeers) startOthers(ctx context.Context) error {
	p0 := m.peers[0]
	others := m.peers[1:]
	m.progress("starting %d more peers at once", len(others))
	m.started = time.Now()
	if m.cfg.together {
		m.progress("(peer0 with them, right after the import)")
		if err := p0.start(m.h.ps); err != nil {
			return err
		}
		others = m.peers
	}
	for _, p := range others {
		if p == p0 {
			continue
		}
		if err := p.start(m.h.ps, "--bootstrap", p0.addr); err != nil {
			return err
		}
	}
	// The others have just started: their CPU so far is a few ms at most.
	meter := startMeter(m.pids(), m.h.db, 500*time.Millisecond)
	var readies []time.Duration
	var last time.Time
	for _, p := range others {
		d, err := p.waitReady(ctx, m.timeout())
		if err != nil {
			meter.stop()
			return err
		}
		readies = append(readies, d)
		last = later(last, p.proc.Started.Add(d))
	}
	m.set("many.ready.p50", percentile(readies, 0.5).Seconds())
	m.set("many.ready.max", percentile(readies, 1).Seconds())
	m.set("many.ready.all", last.Sub(m.started).Seconds())
	m.progress("all ready %.3f s after the first start (each: p50 %.3f s, max %.3f s); waiting for their first passes",
		last.Sub(m.started).Seconds(), percentile(readies, 0.5).Seconds(), percentile(readies, 1).Seconds())
	for _, p := range others {
		if err := m.waitFirstPass(ctx, p); err != nil {
			meter.stop()
			return err
		}
	}
	m.set("many.settled", time.Since(m.started).Seconds())
	err := proc.WaitFor(ctx, 2*time.Minute, p0.proc, func(ctx context.Context) bool {
		n, err := restCount(ctx, p0.restPort, "/peers", 30*time.Second)
		return err == nil && n == len(m.peers)
	})
	c := meter.stop()
	if err != nil {
		return fmt.Errorf("peer0 does not list %d peers: %w", len(m.peers), err)
	}
	m.h.run.recordCost(m.be.Name, m.cfg.size, "many.start", c)
	m.progress("first passes done and %d peers listed %.1f s after the first start", len(m.peers), time.Since(m.started).Seconds())
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// feedReads sums the feed queries of every peer so far.
func (m *manyPeers) feedReads(ctx context.Context) (float64, error) {
	var sum float64
	for i, port := range m.metrics {
		v, err := scrapeSum(ctx, port, feedReadsMetric, feedReadsLabel)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", m.peers[i].name, err)
		}
		sum += v
	}
	return sum, nil
}

// idle leaves the N peers alone for -many-peers-idle and measures the
// database CPU above its baseline, the feed reads and the database reads
// per peer and minute, and what the peers themselves use.
func (m *manyPeers) idle(ctx context.Context) error {
	w := m.cfg.idleWindow
	// Idle means no write within the sweeps' window: right after a phase
	// that wrote, the 24 peers' sweeps re-read its events (see
	// docs/benchmarks.md), which is that phase's cost, not the idle one.
	if wait := time.Until(m.lastWrite.Add(sweptAfter)); wait > 0 {
		m.progress("waiting %s, until the peers' sweeps no longer re-read the pins written before", wait.Round(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := m.h.settleDB(ctx, "the idle peers"); err != nil {
		return err
	}
	m.progress("idle for %s", w)
	reads0, err := m.feedReads(ctx)
	if err != nil {
		return err
	}
	probe, err := m.h.db.probe(ctx, m.keyspace)
	if err != nil {
		return err
	}
	meter := startMeter(m.pids(), m.h.db, time.Second)
	select {
	case <-ctx.Done():
		meter.stop()
		return ctx.Err()
	case <-time.After(w):
	}
	c := meter.stop()
	cpu, counts, err := probe.end(ctx)
	if err != nil {
		return err
	}
	reads1, err := m.feedReads(ctx)
	if err != nil {
		return err
	}
	for _, p := range m.peers {
		if p.proc.Exited() {
			return fmt.Errorf("%s exited while idle (%v): %s", p.name, p.proc.Err(), proc.Tail(p.proc.LogPath, 8))
		}
	}
	n := len(m.peers)
	net, band, ok := netCPU(cpu, w, m.h.run.Settings.baselineRates())
	m.set("many.idle.dbcpu", percentOfCore(net, w))
	if ok {
		m.set("many.idle.dbcpu"+bandSuffix, percentOfCore(band, w))
	}
	m.set("many.idle.dbcpu.raw", percentOfCore(cpu.Seconds(), w))
	m.set("many.idle.feedreads", perPeerPerMinute(reads1-reads0, n, w))
	m.set("many.idle.dbreads", perPeerPerMinute(float64(counts.Reads+counts.Scans), n, w))
	m.set("many.idle.peercpu", percentOfCore(c.PeerCPU.Seconds(), w)/float64(n))
	m.set("many.idle.peerrss", mib(c.PeerRSS)/float64(n))
	m.h.run.recordCost(m.be.Name, m.cfg.size, "many.idle", c)
	m.progress("idle: database %.2f ± %.2f %% of one core above its baseline (%.2f %% in all); %.1f feed queries and %.1f database reads per peer per minute",
		percentOfCore(net, w), percentOfCore(band, w), percentOfCore(cpu.Seconds(), w),
		perPeerPerMinute(reads1-reads0, n, w), perPeerPerMinute(float64(counts.Reads+counts.Scans), n, w))
	return nil
}

// reachPhase adds -many-peers-pins pins through peer0, one every
// reachPace, and times each to every peer's tracker (its kubo tap).
func (m *manyPeers) reachPhase(ctx context.Context) error {
	p0 := m.peers[0]
	m.progress("timing %d pins from their REST add on %s to every tracker", len(m.reach), p0.name)
	sent := make([]time.Time, len(m.reach))
	tick := time.NewTicker(reachPace)
	defer tick.Stop()
	for i, c := range m.reach {
		sent[i] = time.Now()
		if err := restPinAdd(ctx, p0.restPort, c, ""); err != nil {
			return fmt.Errorf("pin %d of %d: %w", i+1, len(m.reach), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	all := func() bool {
		for _, c := range m.reach {
			for _, t := range m.taps {
				if _, ok := t.pinnedAt(c); !ok {
					return false
				}
			}
		}
		return true
	}
	if err := proc.WaitFor(ctx, reachLimit, nil, func(context.Context) bool { return all() }); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	at := make([][]time.Time, len(m.reach))
	for i, c := range m.reach {
		at[i] = make([]time.Time, len(m.taps))
		for j, t := range m.taps {
			at[i][j], _ = t.pinnedAt(c)
		}
	}
	r := summariseReach(sent, at, 0, reachLimit)
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 }
	m.set("many.reach.p50", ms(percentile(r.Every, 0.5)))
	m.set("many.reach.p99", ms(percentile(r.Every, 0.99)))
	m.set("many.reach.max", ms(percentile(r.Every, 1)))
	m.set("many.reach.peer.p50", ms(percentile(r.Others, 0.5)))
	m.set("many.reach.peer.p99", ms(percentile(r.Others, 0.99)))
	m.set("many.reach.missing", float64(r.Missing))
	if r.Missing > 0 {
		var short []string
		for j, p := range m.peers {
			n := 0
			for i := range at {
				if at[i][j].IsZero() {
					n++
				}
			}
			if n > 0 {
				short = append(short, fmt.Sprintf("%s %d", p.name, n))
			}
		}
		m.h.run.note(fmt.Sprintf("%d peers %s: %d of %d timed pins did not reach every tracker within %s (counted as %s); pins missed per peer: %s",
			m.cfg.peers, sizeLabel(m.cfg.size), r.Missing, len(m.reach), reachLimit, reachLimit, strings.Join(short, ", ")))
	}
	m.progress("a pin reaches every tracker in p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d missing)",
		ms(percentile(r.Every, 0.5)), ms(percentile(r.Every, 0.99)), ms(percentile(r.Every, 1)), r.Missing)
	return nil
}

// addN measures the REST add rate over the N peers, against the 1-peer
// rate of the same keyspace.
func (m *manyPeers) addN(ctx context.Context) error {
	rate, err := m.addLoad(ctx, "addN", m.peers)
	if err != nil {
		return err
	}
	if one, ok := m.h.run.value(m.be.Name, m.cfg.size, "many.add1.rate"); ok && one > 0 {
		m.set("many.add.ratio", rate/one)
	}
	return nil
}

// cleanup stops every peer (at once), the taps and the kubos, drops the
// keyspace and removes the folder.
func (m *manyPeers) cleanup() {
	var wg sync.WaitGroup
	for _, p := range m.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(); err != nil {
				logf("warning: %v", err)
			}
		}()
	}
	wg.Wait()
	for _, t := range m.taps {
		if err := t.close(); err != nil {
			logf("warning: kubo tap: %v", err)
		}
	}
	for _, k := range m.kubos {
		if err := k.Proc.Stop(30 * time.Second); err != nil {
			logf("warning: %v", err)
		}
	}
	if err := m.h.db.dropKeyspace(context.Background(), m.keyspace); err != nil {
		logf("warning: %v", err)
	}
	if !m.h.cfg.keep {
		_ = os.RemoveAll(m.dir)
	}
}

// outsidePeer is the ID of a new peer that is not in the cluster.
func outsidePeer() (string, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("a key for a peer outside the cluster: %w", err)
	}
	id, err := libp2ppeer.IDFromPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("a peer outside the cluster: %w", err)
	}
	return id.String(), nil
}

// allocationText says where the imported pins of the N-peer phase are
// allocated, for replication factor rf (0: outside the cluster).
func allocationText(rf int) string {
	if rf == 0 {
		return "replication 1, allocated to a peer outside the cluster: no peer tracks them, " +
			"as if every one were pinned already (an offline kubo never pins them, so the peers holding them " +
			"would track them again at every repair: use -many-peers-rf 1 to include that)"
	}
	return fmt.Sprintf("replication %d, allocated round robin over the peers (an offline kubo never pins them: "+
		"the repairs keep tracking them again)", rf)
}
