package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// scenario is one backend at one pinset size: a fresh peer imports the
// pinset, starts, lists, idles, takes REST pin adds, is joined by new
// peers and finally exports its state. Every phase records figures.
type scenario struct {
	h        *harness
	be       *backend
	size     int
	pinset   string // NDJSON file in the export format
	dir      string
	keyspace string // ours only
	settings peerSettings
	peers    []*peer
	kubos    []*kubo.Daemon
	expected int  // pins in the state after the add phase
	joined   bool // the new peer listed them all
	exported int  // pins in the state at export time
}

func (s *scenario) set(key string, v float64) { s.h.run.set(s.be.Name, s.size, key, v) }

func (s *scenario) progress(format string, args ...any) {
	logf("%s %s: %s", s.be.Name, sizeLabel(s.size), fmt.Sprintf(format, args...))
}

// heartbeat prints a progress line every 30 s until the returned stop is
// called (which waits for its goroutine); detail, if not nil, adds to it.
func (s *scenario) heartbeat(what string, detail func() string) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(exited)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				extra := ""
				if detail != nil {
					extra = ": " + detail()
				}
				s.progress("%s: still running after %s%s", what, time.Since(t0).Round(time.Second), extra)
			}
		}
	}()
	return func() { close(done); <-exited }
}

// timeout is the budget of a phase that scales with the pinset.
func (s *scenario) timeout() time.Duration {
	return 2*time.Minute + time.Duration(float64(s.size)*s.h.cfg.timeoutPerPin)
}

// runScenario runs every phase. A failure is reported; a failure of a
// critical phase (setup, import, first start) ends the scenario, others
// only skip the phases that need their outcome.
func (h *harness) runScenario(ctx context.Context, be *backend, size int, pinset string) error {
	s := &scenario{h: h, be: be, size: size, pinset: pinset,
		dir: filepath.Join(h.work, fmt.Sprintf("%s-%s", be.Name, sizeLabel(size)))}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s.settings = peerSettings{Secret: hex.EncodeToString(secret), SyncInterval: h.cfg.idleWindow,
		DBHosts: h.cfg.dbHosts, DBPort: h.cfg.dbPort}
	if be.UsesDB {
		s.keyspace = "bench_" + hex.EncodeToString(secret[:6])
		s.settings.Keyspace = s.keyspace
	}
	defer s.cleanup()

	return h.runSteps(ctx, be.Name, size, fmt.Sprintf("%s %s", be.Name, sizeLabel(size)), s.progress, []step{
		{"setup", nil, s.setup, true},
		{"state import", []string{"import.secs", "import.rate"}, s.importPhase, true},
		{"first start", []string{"start.ready", "start.rss.peak"}, s.firstStart, true},
		{"REST pin ls", []string{"ls.secs", "ls.rate"}, s.listPhase, false},
		{"idle", []string{"idle.dbcpu"}, s.idlePhase, false},
		{"REST pin add", []string{"add.rate", "add.p50", "add.p99"}, s.addPhase, false},
		{"new peer", []string{"join.ready", "join.ls"}, s.joinPhase, false},
		{"3 peers", []string{"add3.rate"}, s.threePeersPhase, false},
		{"state export", []string{"export.secs", "export.rate"}, s.exportPhase, false},
	})
}

func (s *scenario) cleanup() {
	for i := len(s.peers) - 1; i >= 0; i-- {
		if err := s.peers[i].stop(); err != nil {
			logf("warning: %v", err)
		}
	}
	for _, k := range s.kubos {
		if err := k.Proc.Stop(30 * time.Second); err != nil {
			logf("warning: %v", err)
		}
	}
	if s.keyspace != "" && s.h.db != nil {
		if err := s.h.db.dropKeyspace(context.Background(), s.keyspace); err != nil {
			logf("warning: %v", err)
		}
	}
	if !s.h.cfg.keep {
		_ = os.RemoveAll(s.dir)
	}
}

// newPeer starts a kubo and inits a peer of the scenario's backend.
func (s *scenario) newPeer(ctx context.Context, name string) (*peer, error) {
	k, err := kubo.StartOffline(ctx, s.h.ps, s.h.cfg.ipfsBin, filepath.Join(s.dir, "kubo-"+name))
	if err != nil {
		return nil, err
	}
	s.kubos = append(s.kubos, k)
	p, err := initPeer(ctx, s.be, name, filepath.Join(s.dir, name), k, s.settings)
	if err != nil {
		return nil, err
	}
	if s.h.cfg.peerMetrics {
		if err := p.enableMetrics(); err != nil {
			return nil, err
		}
	}
	s.peers = append(s.peers, p)
	return p, nil
}

func (s *scenario) setup(ctx context.Context) error {
	s.progress("setting up (kubo offline, init)")
	_, err := s.newPeer(ctx, "peer0")
	return err
}

// meter starts measuring the CPU and RSS of the given peers (those that
// run) and, for the backends on the database, of the database.
func (s *scenario) meter(interval time.Duration, ps ...*peer) *phaseMeter {
	pids := map[string]int{}
	for _, p := range ps {
		if p.proc != nil {
			pids[p.name] = p.proc.PID()
		}
	}
	var db *database
	if s.be.UsesDB {
		db = s.h.db
	}
	return startMeter(pids, db, interval)
}

// cost records what a phase cost the peers and the database.
func (s *scenario) cost(prefix string, c phaseCost) {
	s.h.run.recordCost(s.be.Name, s.size, prefix, c)
}

// perPinCost records the CPU per pin of a phase that handled pins: the
// peers' (µs), and the peers' and the database's together (µs).
func (s *scenario) perPinCost(prefix string, c phaseCost, pins int) {
	s.set(prefix+".peercpu", cpuPerPin(c.PeerCPU, 0, pins))
	s.set(prefix+".cpu.pin", cpuPerPin(c.PeerCPU, c.DBCPU, pins))
}

// dbStart starts a database probe for the backends on the database.
func (s *scenario) dbStart(ctx context.Context) (*dbProbe, error) {
	if !s.be.UsesDB {
		return nil, nil
	}
	return s.h.db.probe(ctx, s.keyspace)
}

// dbEnd records the database CPU per pin (µs) and, when reads is true,
// the reads, writes and client requests per pin, under prefix.
func (s *scenario) dbEnd(ctx context.Context, p *dbProbe, prefix string, pins int, reads bool) (time.Duration, error) {
	if p == nil || pins <= 0 {
		return 0, nil
	}
	cpu, c, err := p.end(ctx)
	if err != nil {
		return 0, err
	}
	s.set(prefix+".dbcpu", micros(cpu)/float64(pins))
	if reads {
		s.set(prefix+".dbreads", float64(c.Reads+c.Scans)/float64(pins))
		s.set(prefix+".dbwrites", float64(c.Writes)/float64(pins))
		s.set(prefix+".dbrequests", float64(c.Requests)/float64(pins))
	}
	return cpu, nil
}

func (s *scenario) importPhase(ctx context.Context) error {
	s.progress("state import of %d pins", s.size)
	p0 := s.peers[0]
	probe, err := s.dbStart(ctx)
	if err != nil {
		return err
	}
	m := s.meter(200 * time.Millisecond)
	stop := s.heartbeat("state import", nil)
	res, err := p0.cli(ctx, s.timeout(), "import.log", "state", "import", "--force", s.pinset)
	stop()
	c := m.stop().withCLI(res)
	if err != nil {
		return err
	}
	s.cost("import", c)
	s.perPinCost("import", c, s.size)
	if _, err := s.dbEnd(ctx, probe, "import", s.size, false); err != nil {
		return err
	}
	s.set("import.secs", res.Wall.Seconds())
	s.set("import.rate", perSecond(s.size, res.Wall))
	s.set("import.rss", mib(res.MaxRSS))
	s.progress("state import: %.1f s (%.0f pins/s), CLI peak RSS %.0f MiB", res.Wall.Seconds(), perSecond(s.size, res.Wall), mib(res.MaxRSS))
	return nil
}

// firstStart starts the peer on the imported pinset (allocated
// everywhere, kubo offline) and samples its RSS for the start window.
func (s *scenario) firstStart(ctx context.Context) error {
	p0 := s.peers[0]
	s.progress("first start with %d pins, sampling RSS for %s", s.size, s.h.cfg.startWindow)
	probe, err := s.dbStart(ctx)
	if err != nil {
		return err
	}
	if err := p0.start(s.h.ps); err != nil {
		return err
	}
	m := s.meter(200*time.Millisecond, p0)
	defer m.stop()
	stop := s.heartbeat("first start", nil)
	ready, err := p0.waitReady(ctx, s.timeout())
	stop()
	if err != nil {
		return err
	}
	atReady, _ := proc.RSS(p0.proc.PID())
	s.set("start.ready", ready.Seconds())
	s.set("start.rss.ready", mib(atReady))
	s.progress("ready after %.3f s", ready.Seconds())
	if err := s.hold(ctx, p0.proc.Started.Add(s.h.cfg.startWindow), p0); err != nil {
		return err
	}
	c := m.stop()
	s.cost("start", c)
	r := c.PerPeer[p0.name]
	s.set("start.rss.peak", mib(r.Peak))
	s.set("start.rss.end", mib(r.End))
	if probe != nil {
		cpu, _, err := probe.end(ctx)
		if err != nil {
			return err
		}
		s.set("start.dbcpu", cpu.Seconds())
	}
	s.progress("RSS at ready %.0f MiB, peak %.0f MiB, after %s %.0f MiB", mib(atReady), mib(r.Peak), s.h.cfg.startWindow, mib(r.End))
	return nil
}

// hold waits until t while the peers keep running.
func (s *scenario) hold(ctx context.Context, t time.Time, ps ...*peer) error {
	for time.Now().Before(t) {
		for _, p := range ps {
			if p.proc.Exited() {
				return fmt.Errorf("%s exited (%v): %s", p.name, p.proc.Err(), proc.Tail(p.proc.LogPath, 8))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Until(t), 500*time.Millisecond)):
		}
	}
	return nil
}

func (s *scenario) listPhase(ctx context.Context) error {
	p0 := s.peers[0]
	if err := proc.WaitFor(ctx, time.Minute, p0.proc, func(ctx context.Context) bool { return restUp(ctx, p0.restPort) }); err != nil {
		return fmt.Errorf("REST API of %s: %w", p0.name, err)
	}
	probe, err := s.dbStart(ctx)
	if err != nil {
		return err
	}
	m := s.meter(100*time.Millisecond, p0)
	t0 := time.Now()
	n, err := restCount(ctx, p0.restPort, "/allocations?filter=all", s.timeout())
	wall := time.Since(t0)
	c := m.stop()
	r := c.PerPeer[p0.name]
	if err != nil {
		return err
	}
	if n != s.size {
		return fmt.Errorf("GET /allocations listed %d pins, want %d", n, s.size)
	}
	if _, err := s.dbEnd(ctx, probe, "ls", n, false); err != nil {
		return err
	}
	s.cost("ls", c)
	s.set("ls.secs", wall.Seconds())
	s.set("ls.rate", perSecond(n, wall))
	s.set("rss.ls", mib(r.Peak))
	s.progress("REST pin ls: %d pins in %.2f s (%.0f pins/s)", n, wall.Seconds(), perSecond(n, wall))
	return nil
}

// idlePhase leaves the peer alone for one state sync interval (the idle
// window) and measures what it costs the database.
func (s *scenario) idlePhase(ctx context.Context) error {
	p0 := s.peers[0]
	if s.be.UsesDB {
		if err := s.h.settleDB(ctx, "the idle peer"); err != nil {
			return err
		}
	}
	s.progress("idle for %s (= cluster.state_sync_interval)", s.h.cfg.idleWindow)
	probe, err := s.dbStart(ctx)
	if err != nil {
		return err
	}
	m := s.meter(500*time.Millisecond, p0)
	err = s.hold(ctx, time.Now().Add(s.h.cfg.idleWindow), p0)
	c := m.stop()
	if err != nil {
		return err
	}
	s.cost("idle", c)
	s.set("rss.idle", mib(c.PerPeer[p0.name].Peak))
	if probe == nil {
		return nil
	}
	cpu, counts, err := probe.end(ctx)
	if err != nil {
		return err
	}
	net, band, ok := netCPU(cpu, s.h.cfg.idleWindow, s.h.run.Settings.baselineRates())
	s.set("idle.dbcpu.raw", cpu.Seconds()*1000)
	s.set("idle.dbcpu", net*1000)
	if ok {
		s.set("idle.dbcpu"+bandSuffix, band*1000)
	}
	s.set("idle.dbreads", float64(counts.Reads+counts.Scans))
	s.progress("idle: database CPU %.0f ms (%.0f ± %.0f ms above its baseline), %d reads+scans",
		cpu.Seconds()*1000, net*1000, band*1000, counts.Reads+counts.Scans)
	return nil
}

// waitWritable adds warm-up pins until one is accepted: a peer may refuse
// pins for a moment after it is ready (metrics not yet there).
func (s *scenario) waitWritable(ctx context.Context, p *peer, series string) (int, error) {
	return waitWritable(ctx, p, series)
}

// waitWritable adds pins of a series to p until one is accepted and
// returns how many it sent.
func waitWritable(ctx context.Context, p *peer, series string) (int, error) {
	n := 0
	err := proc.WaitFor(ctx, time.Minute, p.proc, func(ctx context.Context) bool {
		err := restPinAdd(ctx, p.restPort, genCID(series, n).String(), "")
		n++
		return err == nil
	})
	if err != nil {
		return 0, fmt.Errorf("no pin accepted by %s: %w", p.name, err)
	}
	return n, nil
}

// addLoadPhase adds RESTPins new pins through peer0 at the configured
// concurrency and records rate, latencies, database cost and peer RSS
// under prefix.
func (s *scenario) addLoadPhase(ctx context.Context, prefix string) (int, error) {
	p0 := s.peers[0]
	series := fmt.Sprintf("%s-%s-%d", prefix, sizeLabel(s.size), s.h.run.Started.Unix())
	warm, err := s.waitWritable(ctx, p0, "warmup-"+series)
	if err != nil {
		return 0, err
	}
	cids := genCIDs(series, s.h.cfg.restPins)
	if s.h.cfg.addPinnable {
		cids = genPinnableCIDs(series, s.h.cfg.restPins)
	}
	probe, err := s.dbStart(ctx)
	if err != nil {
		return 0, err
	}
	groups, err := s.groupsStart(ctx, p0)
	if err != nil {
		return 0, err
	}
	m := s.meter(200*time.Millisecond, s.peers...)
	res := runAddLoad(ctx, []int{p0.restPort}, cids, "", s.h.cfg.clients, func(done int) {
		s.progress("%s: %d/%d pins added", prefix, done, len(cids))
	})
	c := m.stop()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	ok := len(res.Latencies)
	if ok == 0 {
		return warm, fmt.Errorf("every REST pin add failed, first error: %v", res.FirstErr)
	}
	if _, err := s.dbEnd(ctx, probe, prefix, ok, true); err != nil {
		return 0, err
	}
	if err := s.groupsEnd(ctx, p0, groups, prefix); err != nil {
		return 0, err
	}
	s.set(prefix+".rate", perSecond(ok, res.Wall))
	s.set(prefix+".p50", percentile(res.Latencies, 0.50).Seconds()*1000)
	s.set(prefix+".p99", percentile(res.Latencies, 0.99).Seconds()*1000)
	s.set(prefix+".errors", float64(res.Errors))
	s.set("rss."+prefix, mib(c.PerPeer[p0.name].Peak))
	s.cost(prefix, c)
	s.perPinCost(prefix, c, ok)
	if res.Errors > 0 {
		s.h.run.note(fmt.Sprintf("%s %s: %s: %d of %d REST pin adds failed, first error: %v",
			s.be.Name, sizeLabel(s.size), prefix, res.Errors, len(cids), res.FirstErr))
	}
	s.progress("%s: %d pins in %.1f s = %.0f pins/s, p50 %.1f ms, p99 %.1f ms, %d errors", prefix, ok,
		res.Wall.Seconds(), perSecond(ok, res.Wall), percentile(res.Latencies, 0.5).Seconds()*1000,
		percentile(res.Latencies, 0.99).Seconds()*1000, res.Errors)
	return warm + ok, nil
}

func (s *scenario) addPhase(ctx context.Context) error {
	s.progress("REST pin add: %d pins at %d clients (1 peer)", s.h.cfg.restPins, s.h.cfg.clients)
	if _, err := s.addLoadPhase(ctx, "add"); err != nil {
		return err
	}
	// The count the new peer must list: what peer0 lists now.
	n, err := restCount(ctx, s.peers[0].restPort, "/allocations?filter=all", s.timeout())
	if err != nil {
		return err
	}
	s.expected = n
	return nil
}

// joinPhase starts a new peer that bootstraps to peer0, with the pinset
// already in the cluster, and times it to ready and to a full pin ls.
func (s *scenario) joinPhase(ctx context.Context) error {
	if s.expected == 0 {
		return fmt.Errorf("skipped: the pin count after REST pin add is unknown")
	}
	s.progress("new peer joins (the cluster holds %d pins)", s.expected)
	p0 := s.peers[0]
	p1, err := s.newPeer(ctx, "peer1")
	if err != nil {
		return err
	}
	probe, err := s.dbStart(ctx)
	if err != nil {
		return err
	}
	if err := p1.start(s.h.ps, "--bootstrap", p0.addr); err != nil {
		return err
	}
	m := s.meter(200*time.Millisecond, p0, p1)
	defer m.stop()
	// crdt's new peer learns the heads at the next rebroadcast (1 min by
	// default): give every backend a few of those.
	budget := max(s.timeout(), 5*time.Minute)
	ready, err := p1.waitReady(ctx, budget)
	if err != nil {
		return err
	}
	s.set("join.ready", ready.Seconds())
	s.progress("new peer ready after %.3f s; listing until it shows %d pins", ready.Seconds(), s.expected)
	var last, lastListing atomic.Int64
	stop := s.heartbeat("new peer listing", func() string { return fmt.Sprintf("%d of %d pins listed", last.Load(), s.expected) })
	err = proc.WaitFor(ctx, budget, p1.proc, func(ctx context.Context) bool {
		t0 := time.Now()
		n, err := restCount(ctx, p1.restPort, "/allocations?filter=all", s.timeout())
		if err == nil {
			last.Store(int64(n))
			lastListing.Store(int64(time.Since(t0)))
		}
		return err == nil && n >= s.expected
	})
	stop()
	if err != nil {
		return fmt.Errorf("new peer listed %d of %d pins: %w", last.Load(), s.expected, err)
	}
	full := time.Since(p1.proc.Started)
	c := m.stop()
	s.cost("join", c)
	s.set("join.ls", full.Seconds())
	s.set("join.ls1", time.Duration(lastListing.Load()).Seconds()*1000)
	s.set("join.rss", mib(c.PerPeer[p1.name].Peak))
	s.set("rss.join", mib(c.PerPeer[p0.name].Peak))
	if probe != nil {
		cpu, _, err := probe.end(ctx)
		if err != nil {
			return err
		}
		s.set("join.dbcpu", cpu.Seconds())
	}
	s.joined = true
	s.progress("new peer lists all %d pins %.2f s after its start (one listing: %.0f ms; peak RSS %.0f MiB)",
		s.expected, full.Seconds(), time.Duration(lastListing.Load()).Seconds()*1000, mib(c.PerPeer[p1.name].Peak))
	return nil
}

// threePeersPhase adds a third peer and repeats the REST pin add, for the
// backends selected by -three-peers.
func (s *scenario) threePeersPhase(ctx context.Context) error {
	if !s.h.cfg.threePeers(s.be.Name) {
		return nil
	}
	if !s.joined {
		return fmt.Errorf("skipped: the new peer did not join")
	}
	p0 := s.peers[0]
	p2, err := s.newPeer(ctx, "peer2")
	if err != nil {
		return err
	}
	if err := p2.start(s.h.ps, "--bootstrap", p0.addr); err != nil {
		return err
	}
	if _, err := p2.waitReady(ctx, s.timeout()); err != nil {
		return err
	}
	err = proc.WaitFor(ctx, time.Minute, p2.proc, func(ctx context.Context) bool {
		n, err := restCount(ctx, p0.restPort, "/peers", 30*time.Second)
		return err == nil && n == 3
	})
	if err != nil {
		return fmt.Errorf("peer0 does not list 3 peers: %w", err)
	}
	s.progress("REST pin add: %d pins at %d clients (3 peers)", s.h.cfg.restPins, s.h.cfg.clients)
	_, err = s.addLoadPhase(ctx, "add3")
	return err
}

// exportPhase stops every peer and runs `state export` on peer0's folder.
func (s *scenario) exportPhase(ctx context.Context) error {
	for i := len(s.peers) - 1; i >= 0; i-- {
		if err := s.peers[i].stop(); err != nil {
			return err
		}
	}
	s.progress("state export")
	out := filepath.Join(s.dir, "export.ndjson")
	probe, err := s.dbStart(ctx)
	if err != nil {
		return err
	}
	m := s.meter(200 * time.Millisecond)
	stop := s.heartbeat("state export", nil)
	res, err := s.peers[0].cli(ctx, s.timeout(), "export.log", "state", "export", "-f", out)
	stop()
	c := m.stop().withCLI(res)
	if err != nil {
		return err
	}
	s.cost("export", c)
	n, err := countLines(out)
	if err != nil {
		return err
	}
	if n < s.expected {
		// Upstream raft exports its last snapshot, without the log entries
		// after it: report it rather than fail.
		s.h.run.note(fmt.Sprintf("%s %s: state export wrote %d pins while the cluster listed %d",
			s.be.Name, sizeLabel(s.size), n, s.expected))
	}
	cpu, err := s.dbEnd(ctx, probe, "export", n, false)
	if err != nil {
		return err
	}
	s.set("export.secs", res.Wall.Seconds())
	s.set("export.rate", perSecond(n, res.Wall))
	s.set("export.rss", mib(res.MaxRSS))
	s.set("export.pins", float64(n))
	if probe != nil {
		s.set("export.dbcpu.total", cpu.Seconds()*1000)
		if idle, ok := s.h.run.value(s.be.Name, s.size, "idle.dbcpu"); ok && cpu > 0 {
			s.set("idle.scan", 100*idle/(cpu.Seconds()*1000))
		}
	}
	_ = os.Remove(out)
	s.progress("state export: %d pins in %.1f s (%.0f pins/s), CLI peak RSS %.0f MiB", n, res.Wall.Seconds(), perSecond(n, res.Wall), mib(res.MaxRSS))
	return nil
}
