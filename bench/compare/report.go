package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// metric is one row of the report.
type metric struct {
	Key   string
	Label string
	Unit  string
}

// metricGroup is a block of rows.
type metricGroup struct {
	Title   string
	Metrics []metric
}

// reportRows are the rows of the per-size tables, in order.
var reportRows = []metricGroup{
	{"Writes through the REST API", []metric{
		{"add.rate", "REST pin add, 1 peer: rate", "pins/s"},
		{"add.p50", "REST pin add, 1 peer: p50 latency", "ms"},
		{"add.p99", "REST pin add, 1 peer: p99 latency", "ms"},
		{"add.errors", "REST pin add, 1 peer: failed requests", ""},
		{"add.dbcpu", "REST pin add, 1 peer: database CPU per pin", "µs"},
		{"add.dbreads", "REST pin add, 1 peer: database reads per pin", ""},
		{"add.dbwrites", "REST pin add, 1 peer: database writes per pin", ""},
		{"add3.rate", "REST pin add, 3 peers: rate", "pins/s"},
		{"add3.p50", "REST pin add, 3 peers: p50 latency", "ms"},
		{"add3.p99", "REST pin add, 3 peers: p99 latency", "ms"},
		{"add3.errors", "REST pin add, 3 peers: failed requests", ""},
		{"add3.dbcpu", "REST pin add, 3 peers: database CPU per pin", "µs"},
		{"add3.dbreads", "REST pin add, 3 peers: database reads per pin", ""},
		{"add3.dbwrites", "REST pin add, 3 peers: database writes per pin", ""},
	}},
	{"Whole pinset", []metric{
		{"import.secs", "state import: time", "s"},
		{"import.rate", "state import: rate", "pins/s"},
		{"import.dbcpu", "state import: database CPU per pin", "µs"},
		{"import.rss", "state import: CLI peak RSS", "MiB"},
		{"export.secs", "state export: time", "s"},
		{"export.rate", "state export: rate", "pins/s"},
		{"export.dbcpu", "state export: database CPU per pin", "µs"},
		{"export.rss", "state export: CLI peak RSS", "MiB"},
		{"ls.secs", "REST pin ls (all pins): time", "s"},
		{"ls.rate", "REST pin ls (all pins): rate", "pins/s"},
		{"ls.dbcpu", "REST pin ls: database CPU per pin", "µs"},
	}},
	{"Peers", []metric{
		{"start.ready", "first start on the imported pinset: time to ready", "s"},
		{"start.dbcpu", "first start: database CPU over the start window", "s"},
		{"join.ready", "new peer: time to ready", "s"},
		{"join.ls", "new peer: time to a full pin ls (from its start)", "s"},
		{"join.dbcpu", "new peer: database CPU until its full pin ls", "s"},
		{"idle.dbcpu", "idle peer: database CPU per state sync interval, net of baseline", "ms"},
		{"idle.scan", "idle peer: that CPU / CPU of one full scan (state export)", "%"},
		{"idle.dbreads", "idle peer: database reads per state sync interval", ""},
	}},
	{"Peer memory (RSS)", []metric{
		{"start.rss.ready", "first start: RSS at ready", "MiB"},
		{"start.rss.peak", "first start: peak RSS over the start window", "MiB"},
		{"start.rss.end", "first start: RSS at the end of the start window", "MiB"},
		{"rss.ls", "peak RSS during REST pin ls", "MiB"},
		{"rss.idle", "peak RSS while idle", "MiB"},
		{"rss.add", "peak RSS during REST pin add, 1 peer", "MiB"},
		{"rss.join", "peak RSS while a new peer joins", "MiB"},
		{"join.rss", "new peer: peak RSS until its full pin ls", "MiB"},
		{"rss.add3", "peak RSS during REST pin add, 3 peers", "MiB"},
	}},
}

// busyDatabase is the database CPU-seconds per second, with no peer
// running, above which the report warns that others share the database.
// A dedicated Cassandra 5.0 node, just after the warm-up load, idles at
// 30-40 ms per second here (compactions, GC): that is not other clients.
const busyDatabase = 0.05

// formatValue prints a figure with a precision that suits its size.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// cell is the table cell of one backend's figure.
func (r *Run) cell(backend string, size int, key string) string {
	f, ok := r.get(backend, size, key)
	switch {
	case !ok:
		return "—"
	case f.Missing != "":
		return f.Missing
	}
	return formatValue(f.Value)
}

// ratio is ours / crdt for a key at a size, if both were measured.
func (r *Run) ratio(size int, key string) (float64, bool) {
	o, ok1 := r.value("ours", size, key)
	c, ok2 := r.value("crdt", size, key)
	if !ok1 || !ok2 || c == 0 {
		return 0, false
	}
	return o / c, true
}

// renderMarkdown renders the run; level is the level of its top heading
// and chart the path of the chart relative to the markdown file.
func renderMarkdown(r *Run, level int, chart string) string {
	h := func(n int) string { return strings.Repeat("#", level+n) + " " }
	var b strings.Builder
	fmt.Fprintf(&b, "%sSide-by-side benchmark (%s mode)\n\n", h(0), r.Mode)
	fmt.Fprintf(&b, "Upstream ipfs-cluster v1.1.5 with crdt and with raft (both on pebble) against ours "+
		"(pinset in Cassandra), driven through ipfs-cluster-service, its REST API and one offline kubo per peer.\n\n")
	fmt.Fprintf(&b, "- date: %s; duration %.0f min; commit `%s`\n", r.Started.Format("2006-01-02 15:04 MST"), r.Seconds/60, r.Commit)
	fmt.Fprintf(&b, "- machine: %s", r.Machine)
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(&b, "; load average (1/5/15 min) %s at the start, %s at the end", r.LoadAvg[0], r.LoadAvg[1])
	}
	b.WriteString("\n")
	s := r.Settings
	fmt.Fprintf(&b, "- REST pin add: %d new pins per phase at %d concurrent clients; start window %.0f s; "+
		"idle window %.0f s (= cluster.state_sync_interval of every peer)\n", s.RESTPins, s.Clients, s.StartWindowS, s.IdleWindowS)
	if s.DBInstance != "" {
		fmt.Fprintf(&b, "- database: Cassandra at %s, baseline %.1f ms CPU per second with no peer running", s.DBInstance, s.DBBaselineCPU*1000)
		if s.DBWarmUpS > 0 {
			fmt.Fprintf(&b, ", measured after %.0f s of warm-up load (a freshly started JVM runs several times slower until its JIT compiler has run)", s.DBWarmUpS)
		}
		b.WriteString("\n")
		if s.DBBaselineCPU > busyDatabase {
			b.WriteString("- **the database was busy with other clients**: its CPU figures include their load " +
				"(idle figures are net of the baseline, the others are not); `BENCH_DB=own` runs a dedicated instance\n")
		}
	}
	if r.Interrupted {
		fmt.Fprintf(&b, "- **incomplete: the run was interrupted**\n")
	}
	if chart != "" {
		fmt.Fprintf(&b, "\n![ours / crdt ratios](%s)\n", chart)
	}
	fmt.Fprintf(&b, "\n%sTargets of issue 8 (ours)\n\n", h(1))
	b.WriteString("| target | measured | status |\n|---|---|---|\n")
	for _, t := range evalTargets(r) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target, t.Measured, t.Status)
	}
	for _, size := range r.Sizes {
		fmt.Fprintf(&b, "\n%s%s pins\n\n", h(1), sizeLabel(size))
		b.WriteString("| figure | unit |")
		for _, be := range r.Backends {
			fmt.Fprintf(&b, " %s |", be)
		}
		b.WriteString(" ours / crdt |\n|---|---|")
		for range r.Backends {
			b.WriteString("---:|")
		}
		b.WriteString("---:|\n")
		for _, g := range reportRows {
			for _, m := range g.Metrics {
				if !slices.ContainsFunc(r.Backends, func(be string) bool { _, ok := r.get(be, size, m.Key); return ok }) {
					continue
				}
				fmt.Fprintf(&b, "| %s | %s |", m.Label, m.Unit)
				for _, be := range r.Backends {
					fmt.Fprintf(&b, " %s |", r.cell(be, size, m.Key))
				}
				if x, ok := r.ratio(size, m.Key); ok {
					fmt.Fprintf(&b, " %.2fx |\n", x)
				} else {
					b.WriteString(" |\n")
				}
			}
		}
	}
	b.WriteString("\n— : not measured, or not applicable (upstream keeps no pinset in the database). " +
		"Database figures are read from the Cassandra process (/proc CPU time) and its virtual tables " +
		"(system_views.local_{read,scan,write}_latency counts of the keyspace); reads include range scans.\n")
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "\n%sNotes\n\n", h(1))
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	return b.String()
}
