package main

import (
	"fmt"
	"strings"
)

// targetResult is one line of the targets table.
type targetResult struct {
	Target   string
	Measured string
	Status   string // PASS, FAIL or "not measured"
}

const (
	pass        = "PASS"
	fail        = "FAIL"
	notMeasured = "not measured"
	bigSize     = 1000000 // the size of the 1M targets
	smallSize   = 10000   // the reference of the RSS target
)

// perSize checks ok(size) at every size where measure(size) has a value.
func perSize(r *Run, target string, measure func(size int) (float64, bool), format func(float64) string, ok func(v float64, size int) bool) targetResult {
	res := targetResult{Target: target, Status: notMeasured}
	var parts []string
	all := true
	for _, size := range r.Sizes {
		v, have := measure(size)
		if !have {
			continue
		}
		parts = append(parts, sizeLabel(size)+": "+format(v))
		all = all && ok(v, size)
	}
	if len(parts) > 0 {
		res.Measured = strings.Join(parts, ", ")
		res.Status = fail
		if all {
			res.Status = pass
		}
	}
	return res
}

func times(v float64) string   { return fmt.Sprintf("%.2fx", v) }
func value(v float64) string   { return formatValue(v) }
func seconds(v float64) string { return formatValue(v) + " s" }

// atBig checks a target that holds at 1M pins only; other sizes are shown
// for information and do not decide.
func atBig(r *Run, target string, measure func(size int) (float64, bool), format func(float64) string, ok func(float64) bool) targetResult {
	res := perSize(r, target, measure, format, func(v float64, size int) bool { return size != bigSize || ok(v) })
	if _, have := measure(bigSize); !have && res.Status != notMeasured {
		res.Status = notMeasured + " at 1M"
	}
	return res
}

func ratioOf(r *Run, key string) func(int) (float64, bool) {
	return func(size int) (float64, bool) { return r.ratio(size, key) }
}

func oursOf(r *Run, key string) func(int) (float64, bool) {
	return func(size int) (float64, bool) { return r.value("ours", size, key) }
}

// evalTargets checks ours against the targets.
func evalTargets(r *Run) []targetResult {
	out := []targetResult{
		perSize(r, "REST pin add rate >= 2x crdt", ratioOf(r, "add.rate"), times, func(v float64, _ int) bool { return v >= 2 }),
		perSize(r, "REST pin add p99 no worse than crdt (ours/crdt <= 1)", ratioOf(r, "add.p99"), times, func(v float64, _ int) bool { return v <= 1 }),
		perSize(r, "state import rate >= 3x crdt", ratioOf(r, "import.rate"), times, func(v float64, _ int) bool { return v >= 3 }),
		perSize(r, "state export rate >= 1.5x crdt", ratioOf(r, "export.rate"), times, func(v float64, _ int) bool { return v >= 1.5 }),
		perSize(r, "REST pin ls rate >= 1.5x crdt", ratioOf(r, "ls.rate"), times, func(v float64, _ int) bool { return v >= 1.5 }),
		perSize(r, "database CPU per imported pin <= 60 µs", oursOf(r, "import.dbcpu"), func(v float64) string { return value(v) + " µs" }, func(v float64, _ int) bool { return v <= 60 }),
		perSize(r, "database CPU per REST pin add <= 200 µs", oursOf(r, "add.dbcpu"), func(v float64) string { return value(v) + " µs" }, func(v float64, _ int) bool { return v <= 200 }),
		perSize(r, "database reads per REST pin add do not grow with peers (3 peers <= 1.1 x 1 peer)",
			func(size int) (float64, bool) {
				one, ok1 := r.value("ours", size, "add.dbreads")
				three, ok3 := r.value("ours", size, "add3.dbreads")
				if !ok1 || !ok3 {
					return 0, false
				}
				if one == 0 {
					if three == 0 {
						return 1, true
					}
					return three * 1e9, true
				}
				return three / one, true
			}, times, func(v float64, _ int) bool { return v <= 1.1 }),
		atBig(r, "new peer at 1M pins: ready <= 1 s", oursOf(r, "join.ready"), seconds, func(v float64) bool { return v <= 1 }),
		atBig(r, "new peer at 1M pins: full pin ls <= 10 s", oursOf(r, "join.ls"), seconds, func(v float64) bool { return v <= 10 }),
		atBig(r, "idle peer at 1M pins: database CPU per scan interval <= 1% of one full scan", oursOf(r, "idle.scan"),
			func(v float64) string { return formatValue(v) + "%" }, func(v float64) bool { return v <= 1 }),
	}
	for _, m := range []metric{
		{Key: "start.rss.peak", Label: "first start (kubo offline, all pins allocated here)"},
		{Key: "start.rss.end", Label: "end of the start window"},
		{Key: "rss.ls", Label: "REST pin ls"},
		{Key: "rss.idle", Label: "idle"},
		{Key: "rss.add", Label: "REST pin add"},
		{Key: "rss.join", Label: "a new peer joins"},
		{Key: "join.rss", Label: "the new peer itself"},
	} {
		key := m.Key
		out = append(out, atBig(r, "peer RSS at 1M <= 1.2x at 10k: "+m.Label,
			func(size int) (float64, bool) {
				if size == smallSize {
					return 0, false
				}
				v, ok1 := r.value("ours", size, key)
				ref, ok2 := r.value("ours", smallSize, key)
				if !ok1 || !ok2 || ref == 0 {
					return 0, false
				}
				return v / ref, true
			}, times, func(v float64) bool { return v <= 1.2 }))
	}
	return append(out, manyTargets(r)...)
}
