package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleRun is a run with figures at two sizes, one failed phase and no
// raft at 1M.
func sampleRun() *Run {
	r := &Run{Mode: "full", Started: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC), Commit: "abc123",
		Machine: "2 CPUs", Backends: []string{"crdt", "raft", "ours"}, Sizes: []int{10000, 1000000}}
	for _, size := range r.Sizes {
		r.set("crdt", size, "add.rate", 100)
		r.set("raft", size, "add.rate", 50)
		r.set("ours", size, "add.rate", 250)
		r.set("crdt", size, "add.p99", 40)
		r.set("ours", size, "add.p99", 50)
		r.set("crdt", size, "import.rate", 1000)
		r.set("ours", size, "import.rate", 2000)
		r.set("ours", size, "import.dbcpu", 45)
		r.set("ours", size, "add.dbreads", 2)
		r.set("ours", size, "add3.dbreads", 2)
		r.set("ours", size, "start.rss.peak", 100)
		r.set("ours", size, "join.ready", 0.5)
	}
	r.set("ours", 1000000, "start.rss.peak", 130) // 1.3x the 10k figure
	r.miss("ours", 1000000, "join.ls", "timeout")
	r.note("ours 1M: new peer: timed out after 20m")
	return r
}

func TestRenderMarkdown(t *testing.T) {
	md := renderMarkdown(sampleRun(), 1, "full.png")
	for _, want := range []string{
		"# Side-by-side benchmark (full mode)",
		"commit `abc123`",
		"![ours / crdt ratios](full.png)",
		"## 10k pins", "## 1M pins",
		"| figure | unit | crdt | raft | ours | ours / crdt |",
		"| REST pin add, 1 peer: rate | pins/s | 100 | 50.0 | 250 | 2.50x |",
		"| REST pin add, 1 peer: p99 latency | ms | 40.0 | — | 50.0 | 1.25x |",
		"| new peer: time to a full pin ls (from its start) | s | — | — | timeout | |",
		"| REST pin add rate >= 2x crdt | 10k: 2.50x, 1M: 2.50x | PASS |",
		"| REST pin add p99 no worse than crdt (ours/crdt <= 1) | 10k: 1.25x, 1M: 1.25x | FAIL |",
		"| state import rate >= 3x crdt | 10k: 2.00x, 1M: 2.00x | FAIL |",
		"| database CPU per imported pin <= 60 µs | 10k: 45.0 µs, 1M: 45.0 µs | PASS |",
		"| new peer at 1M pins: ready <= 1 s | 10k: 0.500 s, 1M: 0.500 s | PASS |",
		"| new peer at 1M pins: full pin ls <= 10 s |  | not measured |",
		"| peer RSS at 1M <= 1.2x at 10k: first start (kubo offline, all pins allocated here) | 1M: 1.30x | FAIL |",
		"| state export rate >= 1.5x crdt |  | not measured |",
		"- ours 1M: new peer: timed out after 20m",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	// Rows nobody measured are left out.
	if strings.Contains(md, "state export: time") {
		t.Errorf("report shows a row with no figure")
	}
}

func TestRatioNeedsBoth(t *testing.T) {
	r := sampleRun()
	if _, ok := r.ratio(10000, "start.rss.peak"); ok {
		t.Error("ratio without a crdt figure")
	}
	if _, ok := r.ratio(1000000, "join.ls"); ok {
		t.Error("ratio of a missing figure")
	}
	if x, ok := r.ratio(10000, "import.rate"); !ok || x != 2 {
		t.Errorf("ratio import.rate = %v, %v; want 2", x, ok)
	}
}

func TestChartIsAPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	if err := writeChart(sampleRun(), path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 200 {
		t.Errorf("chart is %v, too small", b)
	}
}

func TestUpdateReadme(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	before := "# P\n\n## Benchmarks\n\nintro\n\n" + readmeBegin + "\nold table\n" + readmeEnd + "\n\n## After\n"
	if err := os.WriteFile(readme, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(readme, sampleRun(), filepath.Join(dir, "bench", "results", "full.png")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(readme)
	s := string(b)
	for _, want := range []string{"intro\n\n" + readmeBegin + "\n### Side-by-side benchmark", "#### 10k pins",
		"(bench/results/full.png)", readmeEnd + "\n\n## After\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("README lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "old table") {
		t.Error("the old table is still there")
	}
	if err := os.WriteFile(readme, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(readme, sampleRun(), "x.png"); err == nil || !strings.Contains(err.Error(), "markers") {
		t.Errorf("README without markers: err = %v, want one naming the markers", err)
	}
}

func TestReportShowsNetIdleWithItsBandAndCostSideBySide(t *testing.T) {
	r := sampleRun()
	r.set("ours", 10000, "idle.dbcpu", -12)
	r.set("ours", 10000, "idle.dbcpu"+bandSuffix, 30)
	r.recordCost("crdt", 10000, "add", phaseCost{PeerCPU: 1500e6, PeerRSS: 100 << 20})
	r.recordCost("ours", 10000, "add", phaseCost{PeerCPU: 800e6, DBCPU: 1200e6, PeerRSS: 60 << 20, DBRSS: 900 << 20, HasDB: true})
	r.set("crdt", 10000, "add.cpu.pin", 1500)
	r.set("ours", 10000, "add.cpu.pin", 2000)
	r.set("ours", 10000, "join.ready", 0.0123)
	md := renderMarkdown(r, 1, "")
	for _, want := range []string{
		"| idle peer: database CPU per state sync interval, net of baseline (± its noise) | ms | — | — | -12.0 ± 30.0 | |",
		"| REST pin add, 1 peer: total CPU per added pin (peer + database) | µs | 1500 | — | 2000 | 1.33x |",
		"| new peer: time to ready | s | — | — | 0.012 | |",
		"### What each phase cost at 10k pins: peer + database",
		"| phase | crdt CPU s | raft CPU s | ours CPU s | crdt peak RSS MiB | raft peak RSS MiB | ours peak RSS MiB |",
		"| REST pin add, 1 peer | 1.50 | — | 0.800 + 1.20 = 2.00 | 100 | — | 60.0 + 900 = 960 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "What each phase cost at 1M") {
		t.Error("a cost table for a size with no cost figure")
	}
}

func TestReportHasTheNPeerSectionAndItsTargets(t *testing.T) {
	r := sampleRun()
	if md := renderMarkdown(r, 1, ""); strings.Contains(md, "peers of ours on one keyspace") ||
		!strings.Contains(md, "| a new pin reaches every tracker of N peers in <= 1 s (p99) |  | not measured |") {
		t.Errorf("a run without the N-peer phase:\n%s", md)
	}
	r.Settings.ManyPeers = ManyPeersSettings{Peers: 24, Size: 100000, Replication: 1, Kubos: 1, ReachPins: 100, IdleWindowS: 60}
	r.set("ours", 100000, "many.reach.p99", 1200)
	r.set("ours", 100000, "many.idle.dbcpu", 3.5)
	r.set("ours", 100000, "many.idle.dbcpu"+bandSuffix, 1.25)
	r.set("ours", 100000, "many.add.ratio", 0.95)
	r.set("ours", 100000, "many.idle.feedreads", 60)
	md := renderMarkdown(r, 1, "")
	for _, want := range []string{
		"## 24 peers of ours on one keyspace (100k pins)",
		"| N idle peers: database CPU net of its baseline (± noise) | % of a core | 3.50 ± 1.25 |",
		"| idle: change feed queries per peer per minute (peer metric) |  | 60.0 |",
		"| a new pin reaches every tracker of 24 peers in <= 1 s (p99) | 24 peers, 100k: 1200 ms | FAIL |",
		"| 24 idle peers cost the database <= 5% of one core (net of its baseline) | 24 peers, 100k: 3.50% ± 1.25% | PASS |",
		"| REST pin add with 24 peers >= 0.9x the 1-peer rate | 24 peers, 100k: 0.95x | PASS |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
}

func TestReadmeNeedsAnExplicitOutAndOutDefaultsToScratch(t *testing.T) {
	if _, err := parseFlags([]string{"-readme", "README.md"}); err == nil || !strings.Contains(err.Error(), "-out") {
		t.Errorf("-readme without -out: err = %v, want one naming -out", err)
	}
	c, err := parseFlags([]string{"-readme", "README.md", "-out", "bench/results"})
	if err != nil || c.outDir != "bench/results" {
		t.Errorf("-readme with -out: %+v, %v", c.outDir, err)
	}
	c, err = parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.outDir != "" || !c.threePeers("crdt") || !c.threePeers("ours") || c.threePeers("raft") || c.many.peers != 0 {
		t.Errorf("quick defaults: out %q, 3 peers crdt %v ours %v raft %v, many peers %d; want scratch, true, true, false, 0",
			c.outDir, c.threePeers("crdt"), c.threePeers("ours"), c.threePeers("raft"), c.many.peers)
	}
	if c, _ := parseFlags([]string{"-mode", "full"}); c.many.peers != 24 || c.many.size != 100000 {
		t.Errorf("full mode: %d peers at %d pins, want 24 at 100k", c.many.peers, c.many.size)
	}
}
