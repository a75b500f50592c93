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
