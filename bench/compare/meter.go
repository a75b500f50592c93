package main

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// phaseMeter measures what one phase costs the processes that serve it:
// CPU time and peak RSS of the peers (summed over them) and of the
// database, side by side.
type phaseMeter struct {
	peers   map[string]int
	cpu0    map[string]time.Duration
	db      *database // nil: no database (crdt, raft)
	db0     time.Duration
	dbErr   error // reading the database's CPU at the start failed
	peerRSS *proc.RSSSampler
	dbRSS   *proc.RSSSampler
	t0      time.Time
	once    sync.Once
	cost    phaseCost
}

// phaseCost is what a phaseMeter measured.
type phaseCost struct {
	Wall    time.Duration
	PeerCPU time.Duration
	DBCPU   time.Duration
	PeerRSS int64 // bytes: peak of the sum of the peers' RSS
	DBRSS   int64 // bytes: peak (0: not measured, the database is not local)
	HasDB   bool
	PerPeer map[string]proc.RSSSeries
}

// startMeter starts measuring the peers (name -> pid) and, when db is not
// nil, the database (its RSS only when it is a local process); RSS is
// sampled every interval until stop.
func startMeter(peers map[string]int, db *database, interval time.Duration) *phaseMeter {
	m := &phaseMeter{peers: peers, cpu0: map[string]time.Duration{}, db: db, t0: time.Now()}
	for name, pid := range peers {
		m.cpu0[name], _ = proc.CPUTime(pid)
	}
	m.peerRSS = proc.SampleRSS(peers, interval)
	if db != nil {
		m.db0, m.dbErr = db.cpu(context.Background())
		if db.pid != 0 {
			m.dbRSS = proc.SampleRSS(map[string]int{"db": db.pid}, interval)
		}
	}
	return m
}

// stop ends the measurement. A process that has exited meanwhile counts
// for the CPU it had used at the start of the phase (none in the phase).
// It may be called more than once; only the first call measures.
func (m *phaseMeter) stop() phaseCost {
	m.once.Do(func() { m.cost = m.measure() })
	return m.cost
}

func (m *phaseMeter) measure() phaseCost {
	c := phaseCost{Wall: time.Since(m.t0), HasDB: m.db != nil}
	for name, pid := range m.peers {
		if t, err := proc.CPUTime(pid); err == nil && t >= m.cpu0[name] {
			c.PeerCPU += t - m.cpu0[name]
		}
	}
	c.PerPeer = m.peerRSS.Stop()
	c.PeerRSS = m.peerRSS.TotalSeries().Peak
	if m.db != nil {
		if t, err := m.db.cpu(context.Background()); err == nil && m.dbErr == nil && t >= m.db0 {
			c.DBCPU = t - m.db0
		}
	}
	if m.dbRSS != nil {
		c.DBRSS = m.dbRSS.Stop()["db"].Peak
	}
	return c
}

// withCLI adds a command-line run (state import, state export) to the
// peers' side of the cost: its CPU, and its peak RSS as the peers' peak.
func (c phaseCost) withCLI(res proc.CLIResult) phaseCost {
	c.PeerCPU += res.CPU
	c.PeerRSS = max(c.PeerRSS, res.MaxRSS)
	return c
}

// costKeys are the keys under which recordCost stores a phase's cost.
func costKeys(prefix string) (peerCPU, dbCPU, peerRSS, dbRSS string) {
	return prefix + ".cpu.peer", prefix + ".cpu.db", prefix + ".rss.peer", prefix + ".rss.db"
}

// recordCost stores a phase's cost: CPU in seconds, RSS in MiB.
func (r *Run) recordCost(backend string, size int, prefix string, c phaseCost) {
	kpc, kdc, kpr, kdr := costKeys(prefix)
	r.set(backend, size, kpc, c.PeerCPU.Seconds())
	if c.PeerRSS > 0 {
		r.set(backend, size, kpr, mib(c.PeerRSS))
	}
	if c.HasDB {
		r.set(backend, size, kdc, c.DBCPU.Seconds())
		if c.DBRSS > 0 {
			r.set(backend, size, kdr, mib(c.DBRSS))
		}
	}
}
