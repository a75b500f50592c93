package main

import (
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"
)

// percentile is the p-quantile (0 < p <= 1) of the durations, by the
// empirical (nearest-rank) definition; 0 for no samples.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	slices.Sort(xs)
	return time.Duration(stat.Quantile(p, stat.Empirical, xs, nil))
}

// perSecond is n per wall-clock second (0 for no time).
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// mib converts bytes to MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// micros is a duration in microseconds.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
