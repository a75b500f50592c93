package main

import (
	"testing"
	"time"
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
