package main

import (
	"math"
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

// meanSD is the mean and the sample standard deviation (n-1) of xs; the
// deviation is 0 for fewer than two samples.
func meanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	mean, sd = stat.MeanStdDev(xs, nil)
	if len(xs) < 2 || math.IsNaN(sd) {
		sd = 0
	}
	return mean, sd
}

// netCPU is the CPU that a window of length w used above the database's
// own idle baseline, and the noise band of that figure, in CPU-seconds.
//
// rates are the baseline samples: CPU-seconds per second, each over one
// window with no peer running. The net figure is not clamped at zero: a
// negative one says that the peers cost less than the baseline's noise.
// The band is the spread one window's figure shows with no peer at all
// (the baseline samples' standard deviation, scaled linearly to w, which
// is an upper bound when w is longer than the baseline windows), widened
// by sqrt(1+1/k) for the error of the mean of k samples that is
// subtracted. ok is false with fewer than two samples (no band).
func netCPU(cpu, w time.Duration, rates []float64) (net, band float64, ok bool) {
	mean, sd := meanSD(rates)
	net = cpu.Seconds() - mean*w.Seconds()
	if len(rates) < 2 {
		return net, 0, false
	}
	return net, sd * w.Seconds() * math.Sqrt(1+1/float64(len(rates))), true
}

// cpuPerPin is the CPU of the peers and of the database divided by the
// pins, in µs per pin (0 for no pins).
func cpuPerPin(peer, db time.Duration, pins int) float64 {
	if pins <= 0 {
		return 0
	}
	return micros(peer+db) / float64(pins)
}

// percentOfCore is CPU-seconds over a window as a percentage of one core.
func percentOfCore(cpuSeconds float64, w time.Duration) float64 {
	if w <= 0 {
		return 0
	}
	return 100 * cpuSeconds / w.Seconds()
}

// perPeerPerMinute is a count over a window spread over n peers, per
// peer and per minute.
func perPeerPerMinute(count float64, n int, w time.Duration) float64 {
	if n <= 0 || w <= 0 {
		return 0
	}
	return count / float64(n) / w.Minutes()
}

// reachStats summarises how long new pins took to reach the peers.
type reachStats struct {
	Every   []time.Duration // per pin: until the last peer had it
	Others  []time.Duration // per pin and peer other than the origin
	Missing int             // pins some peer never had within the limit
}

// summariseReach reads at[i][j], when pin i reached peer j (zero: never),
// against sent[i], when its REST add was sent; origin is the peer it was
// added on. A pin that some peer never had counts as the limit for that
// peer: percentiles that reach such pins are then lower bounds.
func summariseReach(sent []time.Time, at [][]time.Time, origin int, limit time.Duration) reachStats {
	var r reachStats
	for i, t0 := range sent {
		var last time.Duration
		missing := false
		for j, t := range at[i] {
			d := limit
			if t.IsZero() {
				missing = true
			} else {
				d = max(t.Sub(t0), 0)
			}
			last = max(last, d)
			if j != origin {
				r.Others = append(r.Others, d)
			}
		}
		if missing {
			r.Missing++
		}
		r.Every = append(r.Every, last)
	}
	return r
}
