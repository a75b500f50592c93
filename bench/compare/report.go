package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// metric is one row of the report.
type metric struct {
	Key     string
	Label   string
	Unit    string
	Precise bool // show milliseconds of a figure in seconds
}

// bandSuffix is appended to a key for the noise band (±) of its figure.
const bandSuffix = ".band"

// metricGroup is a block of rows.
type metricGroup struct {
	Title   string
	Metrics []metric
}

// reportRows are the rows of the per-size tables, in order.
var reportRows = []metricGroup{
	{"Writes through the REST API", []metric{
		{"add.rate", "REST pin add, 1 peer: rate", "pins/s", false},
		{"add.p50", "REST pin add, 1 peer: p50 latency", "ms", false},
		{"add.p99", "REST pin add, 1 peer: p99 latency", "ms", false},
		{"add.errors", "REST pin add, 1 peer: failed requests", "", false},
		{"add.dbcpu", "REST pin add, 1 peer: database CPU per pin", "µs", false},
		{"add.peercpu", "REST pin add, 1 peer: peer CPU per pin", "µs", false},
		{"add.cpu.pin", "REST pin add, 1 peer: total CPU per added pin (peer + database)", "µs", false},
		{"add.dbreads", "REST pin add, 1 peer: database reads per pin", "", false},
		{"add.dbwrites", "REST pin add, 1 peer: database writes per pin", "", false},
		{"add.dbrequests", "REST pin add, 1 peer: database requests per pin (a batch is one)", "", false},
		{"add.group.write", "REST pin add, 1 peer: changes per write group (one event request, one row request; -peer-metrics)", "", false},
		{"add.group.read", "REST pin add, 1 peer: rows per read group (-peer-metrics)", "", false},
		{"add.group.tracker_error", "REST pin add, 1 peer: stored errors per write group (-peer-metrics)", "", false},
		{"add3.rate", "REST pin add, 3 peers: rate", "pins/s", false},
		{"add3.p50", "REST pin add, 3 peers: p50 latency", "ms", false},
		{"add3.p99", "REST pin add, 3 peers: p99 latency", "ms", false},
		{"add3.errors", "REST pin add, 3 peers: failed requests", "", false},
		{"add3.dbcpu", "REST pin add, 3 peers: database CPU per pin", "µs", false},
		{"add3.peercpu", "REST pin add, 3 peers: CPU of the 3 peers per pin", "µs", false},
		{"add3.cpu.pin", "REST pin add, 3 peers: total CPU per added pin (3 peers + database)", "µs", false},
		{"add3.dbreads", "REST pin add, 3 peers: database reads per pin", "", false},
		{"add3.dbwrites", "REST pin add, 3 peers: database writes per pin", "", false},
		{"add3.dbrequests", "REST pin add, 3 peers: database requests per pin (a batch is one)", "", false},
		{"add3.group.write", "REST pin add, 3 peers: changes per write group of the peer added to (-peer-metrics)", "", false},
		{"add3.group.read", "REST pin add, 3 peers: rows per read group of the peer added to (-peer-metrics)", "", false},
		{"add3.group.tracker_error", "REST pin add, 3 peers: stored errors per write group of the peer added to (-peer-metrics)", "", false},
	}},
	{"Whole pinset", []metric{
		{"import.secs", "state import: time", "s", false},
		{"import.rate", "state import: rate", "pins/s", false},
		{"import.dbcpu", "state import: database CPU per pin", "µs", false},
		{"import.peercpu", "state import: CLI CPU per pin", "µs", false},
		{"import.cpu.pin", "state import: total CPU per imported pin (CLI + database)", "µs", false},
		{"import.rss", "state import: CLI peak RSS", "MiB", false},
		{"export.secs", "state export: time", "s", false},
		{"export.rate", "state export: rate", "pins/s", false},
		{"export.dbcpu", "state export: database CPU per pin", "µs", false},
		{"export.rss", "state export: CLI peak RSS", "MiB", false},
		{"ls.secs", "REST pin ls (all pins): time", "s", false},
		{"ls.rate", "REST pin ls (all pins): rate", "pins/s", false},
		{"ls.dbcpu", "REST pin ls: database CPU per pin", "µs", false},
	}},
	{"Peers", []metric{
		{"start.ready", "first start on the imported pinset: time to ready", "s", true},
		{"start.dbcpu", "first start: database CPU over the start window", "s", false},
		{"join.ready", "new peer: time to ready", "s", true},
		{"join.ls", "new peer: time to a full pin ls (from its start)", "s", true},
		{"join.ls1", "new peer: duration of its one full pin ls", "ms", false},
		{"join.dbcpu", "new peer: database CPU until its full pin ls", "s", false},
		{"idle.dbcpu", "idle peer: database CPU per state sync interval, net of baseline (± its noise)", "ms", false},
		{"idle.scan", "idle peer: that CPU / CPU of one full scan (state export)", "%", false},
		{"idle.dbreads", "idle peer: database reads per state sync interval", "", false},
	}},
	{"Peer memory (RSS)", []metric{
		{"start.rss.ready", "first start: RSS at ready", "MiB", false},
		{"start.rss.peak", "first start: peak RSS over the start window", "MiB", false},
		{"start.rss.end", "first start: RSS at the end of the start window", "MiB", false},
		{"rss.ls", "peak RSS during REST pin ls", "MiB", false},
		{"rss.idle", "peak RSS while idle", "MiB", false},
		{"rss.add", "peak RSS during REST pin add, 1 peer", "MiB", false},
		{"rss.join", "peak RSS while a new peer joins", "MiB", false},
		{"join.rss", "new peer: peak RSS until its full pin ls", "MiB", false},
		{"rss.add3", "peak RSS during REST pin add, 3 peers", "MiB", false},
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

// cell is the table cell of one backend's figure, with its noise band
// (±) when one was measured.
func (r *Run) cell(backend string, size int, m metric) string {
	f, ok := r.get(backend, size, m.Key)
	switch {
	case !ok:
		return "—"
	case f.Missing != "":
		return f.Missing
	}
	v := formatValue(f.Value)
	if m.Precise {
		v = strconv.FormatFloat(f.Value, 'f', 3, 64)
	}
	if band, ok := r.value(backend, size, m.Key+bandSuffix); ok {
		v += " ± " + formatValue(band)
	}
	return v
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
	added := "CIDs no kubo holds: every pin fails, and ours stores each failure"
	if s.AddPinnable {
		added = "identity CIDs: every pin succeeds in kubo at once"
	}
	fmt.Fprintf(&b, "- REST pin add: %d new pins per phase (%s) at %d concurrent clients; start window %.0f s; "+
		"idle window %.0f s (= cluster.state_sync_interval of every peer)\n", s.RESTPins, added, s.Clients, s.StartWindowS, s.IdleWindowS)
	if s.PeerMetrics {
		b.WriteString("- every peer served its Prometheus metrics (`-peer-metrics`: upstream's enable_stats, and the store's metrics for ours): their cost is in every backend's figures\n")
	}
	if s.DBInstance != "" {
		kind := "Cassandra"
		if s.DBMetrics {
			kind = "ScyllaDB on other machines"
		}
		fmt.Fprintf(&b, "- database: %s at %s, baseline %.1f ms CPU per second with no peer running", kind, s.DBInstance, s.DBBaselineCPU*1000)
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
	fmt.Fprintf(&b, "\n%sTargets (ours)\n\n", h(1))
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
					fmt.Fprintf(&b, " %s |", r.cell(be, size, m))
				}
				if x, ok := r.ratio(size, m.Key); ok {
					fmt.Fprintf(&b, " %.2fx |\n", x)
				} else {
					b.WriteString(" |\n")
				}
			}
		}
		renderCost(&b, r, size, h(2))
	}
	renderMany(&b, r, h(1))
	b.WriteString("\n— : not measured, or not applicable (upstream keeps no pinset in the database). ")
	if r.Settings.DBMetrics {
		b.WriteString("Database figures are read from the ScyllaDB nodes' metrics, summed over nodes and shards: " +
			scyllaCPUMetric + " (reactor threads' CPU time), " + scyllaReadsMetric + "{" + scyllaReadsLabel + "} and " +
			scyllaWritesMetric + " (rows, of every keyspace), " + scyllaRequestsMetric + " of kind QUERY, EXECUTE and BATCH " +
			"(a batch is one request); the database's RSS is not measured.\n")
	} else {
		b.WriteString("Database figures are read from the Cassandra process (/proc CPU time) and its virtual tables " +
			"(system_views.local_{read,scan,write}_latency counts of the keyspace: rows; reads include range scans) " +
			"and requests from system_views.clients (every open connection's request_count; a batch is one request).\n")
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "\n%sNotes\n\n", h(1))
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	return b.String()
}
