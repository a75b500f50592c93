package main

import (
	"math"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.01, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
	if ds[0] != 100*time.Millisecond {
		t.Errorf("percentile sorted its input in place")
	}
}

func TestSizes(t *testing.T) {
	for s, want := range map[string]int{"10k": 10000, "100K": 100000, "1M": 1000000, "2500": 2500} {
		got, err := parseSize(s)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
		if back, _ := parseSize(sizeLabel(want)); back != want {
			t.Errorf("sizeLabel(%d) = %q does not parse back", want, sizeLabel(want))
		}
	}
	for _, bad := range []string{"", "k", "-1", "1G", "ten"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestGenCIDIsStableAndDistinct(t *testing.T) {
	a, b := genCID("s", 1), genCID("s", 1)
	if !a.Equals(b) {
		t.Fatal("same series and index gave two CIDs")
	}
	if genCID("s", 2).Equals(a) || genCID("t", 1).Equals(a) {
		t.Fatal("different index or series gave the same CID")
	}
	if a.Version() != 1 || a.Prefix().Codec != 0x55 {
		t.Fatalf("want CIDv1 raw, got %+v", a.Prefix())
	}
}

func TestNetCPUIsNotClampedAndCarriesTheBaselineNoise(t *testing.T) {
	// Baseline samples of 10, 20 and 30 ms per second: mean 20 ms/s,
	// sample deviation 10 ms/s.
	rates := []float64{0.010, 0.020, 0.030}
	w := 10 * time.Second
	net, band, ok := netCPU(100*time.Millisecond, w, rates) // 0.1 s used, 0.2 s expected
	if !ok {
		t.Fatal("three samples gave no band")
	}
	if math.Abs(net-(-0.1)) > 1e-9 {
		t.Errorf("net = %v s, want -0.1 s (not clamped at zero)", net)
	}
	// 10 ms/s over 10 s = 0.1 s, widened by sqrt(1 + 1/3).
	if want := 0.1 * math.Sqrt(4.0/3); math.Abs(band-want) > 1e-9 {
		t.Errorf("band = %v s, want %v s", band, want)
	}
	if _, _, ok := netCPU(time.Second, w, []float64{0.02}); ok {
		t.Error("one sample gave a band")
	}
}

func TestCPUPerPinAddsPeerAndDatabase(t *testing.T) {
	if got := cpuPerPin(300*time.Millisecond, 200*time.Millisecond, 1000); got != 500 {
		t.Errorf("cpuPerPin(300 ms, 200 ms, 1000) = %v µs, want 500", got)
	}
	if got := cpuPerPin(time.Second, 0, 0); got != 0 {
		t.Errorf("cpuPerPin with no pins = %v, want 0", got)
	}
	if got := percentOfCore(0.6, time.Minute); math.Abs(got-1) > 1e-9 {
		t.Errorf("percentOfCore(0.6 s, 1 min) = %v, want 1", got)
	}
	if got := perPeerPerMinute(480, 24, 30*time.Second); got != 40 {
		t.Errorf("perPeerPerMinute(480, 24, 30 s) = %v, want 40", got)
	}
}

func TestSummariseReachTakesTheLastPeerAndCountsMisses(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	sent := []time.Time{t0, t0}
	at := [][]time.Time{
		{ms(2), ms(40), ms(900)}, // pin 0: every peer, the last at 900 ms
		{ms(3), {}, ms(20)},      // pin 1: peer 1 never
	}
	r := summariseReach(sent, at, 0, 30*time.Second)
	if r.Every[0] != 900*time.Millisecond || r.Every[1] != 30*time.Second {
		t.Errorf("every = %v, want [900ms 30s]", r.Every)
	}
	if r.Missing != 1 {
		t.Errorf("missing = %d, want 1", r.Missing)
	}
	if len(r.Others) != 4 || r.Others[0] != 40*time.Millisecond {
		t.Errorf("others = %v, want the 4 non-origin times starting at 40ms", r.Others)
	}
}

func TestPollingStartsFineAndBacksOff(t *testing.T) {
	d, n := proc.FirstPoll, 0
	for d < proc.MaxPoll {
		d = proc.NextPoll(d)
		n++
	}
	if d != proc.MaxPoll || n > 8 {
		t.Errorf("reached %v after %d steps, want %v within 8", d, n, proc.MaxPoll)
	}
	if proc.FirstPoll > 5*time.Millisecond {
		t.Errorf("first poll %v: ready times would be quantised coarser than 5 ms", proc.FirstPoll)
	}
}

func TestLogTimeReadsGoLogStamps(t *testing.T) {
	got, ok := logTime("2025-05-01T12:00:03.042+0200\tINFO\tcluster\tipfs-cluster/cluster.go:1\tIPFS Cluster is READY")
	want := time.Date(2025, 5, 1, 10, 0, 3, 42e6, time.UTC)
	if !ok || !got.Equal(want) {
		t.Errorf("logTime = %v, %v; want %v", got, ok, want)
	}
	if _, ok := logTime("no stamp here"); ok {
		t.Error("a line without a stamp parsed")
	}
	start := want.Add(300 * time.Microsecond)
	if d, ok := sinceStart(start, want); !ok || d != 0 {
		t.Errorf("a stamp in the start's millisecond: %v, %v; want 0, true", d, ok)
	}
	if _, ok := sinceStart(want.Add(time.Second), want); ok {
		t.Error("a stamp a second before the start was accepted")
	}
}
