package main

import (
	"encoding/json"
	"os"
	"time"
)

// Figure is one measured value of one backend at one pinset size, or the
// reason why there is none (Missing: an error, a timeout, skipped).
type Figure struct {
	Backend string  `json:"backend"`
	Size    int     `json:"size"`
	Key     string  `json:"key"`
	Value   float64 `json:"value"`
	Missing string  `json:"missing,omitempty"`
}

// Settings are the parameters of a run.
type Settings struct {
	RESTPins int `json:"rest_pins"` // pins added through REST per add phase
	Clients  int `json:"clients"`   // concurrent REST clients
	// AddPinnable: the REST add phases add pins kubo holds (identity
	// CIDs, which succeed) instead of pins no kubo holds (which fail).
	AddPinnable bool `json:"add_pinnable,omitempty"`
	// PeerMetrics: every peer served its Prometheus metrics (-peer-metrics).
	PeerMetrics   bool    `json:"peer_metrics,omitempty"`
	StartWindowS  float64 `json:"start_window_s"`  // RSS sampling after the first start
	IdleWindowS   float64 `json:"idle_window_s"`   // the idle phase = cluster.state_sync_interval
	DBBaselineCPU float64 `json:"db_baseline_cpu"` // database CPU-seconds per second with no peer running (mean of the samples)
	// DBBaselineSamples are the baseline's CPU-seconds per second, one per
	// idle window with no peer running: their spread is the noise band of
	// the net idle figures.
	DBBaselineSamples []float64 `json:"db_baseline_samples,omitempty"`
	DBInstance        string    `json:"db_instance"` // host:port of the database
	// DBMetrics: the database ran on other machines and its figures were
	// read from its ScyllaDB nodes' metrics (-db-metrics).
	DBMetrics      bool    `json:"db_metrics,omitempty"`
	DBWarmUpS      float64 `json:"db_warmup_s"`      // mixed load run on the database before the baseline
	ThreePeersFor  string  `json:"three_peers_for"`  // backends measured with 3 peers
	PhaseTimeoutMS float64 `json:"phase_timeout_ms"` // extra timeout per pin (base 2 min)
	// ManyPeers is the phase of N peers of ours on one keyspace (0: not run).
	ManyPeers ManyPeersSettings `json:"many_peers,omitzero"`
}

// ManyPeersSettings are the parameters of the N-peer phase.
type ManyPeersSettings struct {
	Peers       int     `json:"peers,omitempty"`         // peers of ours on one keyspace
	Size        int     `json:"size,omitempty"`          // pins imported before they start
	Replication int     `json:"replication,omitempty"`   // of the imported pins, allocated round robin
	Kubos       int     `json:"kubos,omitempty"`         // kubo daemons the peers share
	ReachPins   int     `json:"reach_pins,omitempty"`    // pins timed to every tracker
	IdleWindowS float64 `json:"idle_window_s,omitempty"` // idle window of the N peers
	Together    bool    `json:"together,omitempty"`      // all N started at once right after the import
}

// baselineRates are the baseline samples, or the single mean of a run
// saved before there were samples.
func (s Settings) baselineRates() []float64 {
	if len(s.DBBaselineSamples) > 0 {
		return s.DBBaselineSamples
	}
	return []float64{s.DBBaselineCPU}
}

// Run is everything a harness run measured; it is saved as JSON and
// rendered as markdown and a chart.
type Run struct {
	Mode        string    `json:"mode"`
	Started     time.Time `json:"started"`
	Seconds     float64   `json:"seconds"`
	Commit      string    `json:"commit"`
	Machine     string    `json:"machine"`
	LoadAvg     []string  `json:"load_avg,omitempty"` // /proc/loadavg at the start and at the end
	Settings    Settings  `json:"settings"`
	Backends    []string  `json:"backends"`
	Sizes       []int     `json:"sizes"`
	Figures     []Figure  `json:"figures"`
	Notes       []string  `json:"notes,omitempty"`
	Interrupted bool      `json:"interrupted,omitempty"`
}

// set records a value (replacing an earlier one of the same key).
func (r *Run) set(backend string, size int, key string, v float64) {
	r.put(Figure{Backend: backend, Size: size, Key: key, Value: v})
}

// miss records why a value is missing (unless a value is there already).
func (r *Run) miss(backend string, size int, key, why string) {
	if f, ok := r.get(backend, size, key); ok && f.Missing == "" {
		return
	}
	r.put(Figure{Backend: backend, Size: size, Key: key, Missing: why})
}

func (r *Run) put(f Figure) {
	for i := range r.Figures {
		g := &r.Figures[i]
		if g.Backend == f.Backend && g.Size == f.Size && g.Key == f.Key {
			*g = f
			return
		}
	}
	r.Figures = append(r.Figures, f)
}

// get returns the figure of backend/size/key.
func (r *Run) get(backend string, size int, key string) (Figure, bool) {
	for _, f := range r.Figures {
		if f.Backend == backend && f.Size == size && f.Key == key {
			return f, true
		}
	}
	return Figure{}, false
}

// value returns a measured value (ok false if missing).
func (r *Run) value(backend string, size int, key string) (float64, bool) {
	f, ok := r.get(backend, size, key)
	return f.Value, ok && f.Missing == ""
}

// note adds a line to the notes of the report.
func (r *Run) note(s string) { r.Notes = append(r.Notes, s) }

// saveJSON writes the run to path.
func (r *Run) saveJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
