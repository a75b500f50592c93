package main

import (
	"fmt"
	"strings"
)

// manyRows are the rows of the N-peer section (backend ours).
var manyRows = []metric{
	{"many.import.secs", "state import of the pinset", "s", false},
	{"many.ready.first", "peer0 alone: time to ready", "s", true},
	{"many.add1.rate", "REST pin add, 1 peer: rate", "pins/s", false},
	{"many.add1.p99", "REST pin add, 1 peer: p99 latency", "ms", false},
	{"many.add1.cpu.pin", "REST pin add, 1 peer: total CPU per added pin (peers + database)", "µs", false},
	{"many.ready.p50", "the other peers, started at once: time to ready, p50", "s", true},
	{"many.ready.max", "the other peers: time to ready, slowest", "s", true},
	{"many.ready.all", "all peers ready, from the first start of the others", "s", true},
	{"many.settled", "all first passes done, from the first start of the others", "s", false},
	{"many.idle.dbcpu", "N idle peers: database CPU net of its baseline (± noise)", "% of a core", false},
	{"many.idle.dbcpu.raw", "N idle peers: database CPU in all", "% of a core", false},
	{"many.idle.feedreads", "idle: change feed queries per peer per minute (peer metric)", "", false},
	{"many.idle.dbreads", "idle: database reads + scans of the keyspace per peer per minute", "", false},
	{"many.idle.peercpu", "idle: CPU of one peer (mean)", "% of a core", false},
	{"many.idle.peerrss", "idle: RSS of one peer (mean)", "MiB", false},
	{"many.idle.rss.db", "idle: database peak RSS", "MiB", false},
	{"many.reach.p50", "a new pin reaches every peer's tracker: p50", "ms", false},
	{"many.reach.p99", "a new pin reaches every peer's tracker: p99", "ms", false},
	{"many.reach.max", "a new pin reaches every peer's tracker: slowest", "ms", false},
	{"many.reach.peer.p50", "a new pin reaches one other peer's tracker: p50", "ms", false},
	{"many.reach.peer.p99", "a new pin reaches one other peer's tracker: p99", "ms", false},
	{"many.reach.missing", "timed pins that missed some tracker", "", false},
	{"many.addN.rate", "REST pin add, round robin over the N peers: rate", "pins/s", false},
	{"many.addN.p99", "REST pin add, N peers: p99 latency", "ms", false},
	{"many.addN.cpu.pin", "REST pin add, N peers: total CPU per added pin (peers + database)", "µs", false},
	{"many.add.ratio", "REST pin add rate: N peers / 1 peer", "x", false},
}

// renderMany writes the section of the N-peer phase, if it ran.
func renderMany(b *strings.Builder, r *Run, heading string) {
	mp := r.Settings.ManyPeers
	if mp.Peers == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s%d peers of ours on one keyspace (%s pins)\n\n", heading, mp.Peers, sizeLabel(mp.Size))
	fmt.Fprintf(b, "One process per peer; the peers share %d kubo daemon(s) (round robin); the imported pins have "+
		"%s; new pins are identity CIDs that kubo pins at once, offline (no tracker retries failing pins): the timed pins have replication -1 (every peer), the REST add runs of 1 and of N peers replication 1 (the same kubo work per pin in both). "+
		"%d pins are added through peer0's REST API, one every %s, and each is timed to the moment every peer's "+
		"tracker asks its kubo to pin it (a proxy between each peer and kubo records it). Idle window %.0f s, from 2 x feed_overlap after the last write (the peers' sweeps re-read that much of the feed) and with no compaction running. "+
		"Feed queries: the peers' `%s{%s}` (every read of the change feed).\n\n",
		mp.Kubos, allocationText(mp.Replication), mp.ReachPins, reachPace, mp.IdleWindowS, feedReadsMetric, feedReadsLabel)
	b.WriteString("| figure | unit | ours |\n|---|---|---:|\n")
	for _, m := range manyRows {
		if _, ok := r.get("ours", mp.Size, m.Key); !ok {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", m.Label, m.Unit, r.cell("ours", mp.Size, m))
	}
}

// manyTargets checks the N-peer phase against its targets.
func manyTargets(r *Run) []targetResult {
	mp := r.Settings.ManyPeers
	one := func(target, key string, format func(float64) string, ok func(float64) bool) targetResult {
		res := targetResult{Target: target, Status: notMeasured}
		v, have := r.value("ours", mp.Size, key)
		if mp.Peers == 0 || !have {
			return res
		}
		res.Measured = fmt.Sprintf("%d peers, %s: %s", mp.Peers, sizeLabel(mp.Size), format(v))
		if band, ok := r.value("ours", mp.Size, key+bandSuffix); ok {
			res.Measured += " ± " + format(band)
		}
		res.Status = fail
		if ok(v) {
			res.Status = pass
		}
		return res
	}
	n := "N"
	if mp.Peers > 0 {
		n = fmt.Sprint(mp.Peers)
	}
	return []targetResult{
		one("a new pin reaches every tracker of "+n+" peers in <= 1 s (p99)", "many.reach.p99",
			func(v float64) string { return formatValue(v) + " ms" }, func(v float64) bool { return v <= 1000 }),
		one(n+" idle peers cost the database <= 5% of one core (net of its baseline)", "many.idle.dbcpu",
			func(v float64) string { return formatValue(v) + "%" }, func(v float64) bool { return v <= 5 }),
		one("REST pin add with "+n+" peers >= 0.9x the 1-peer rate", "many.add.ratio", times,
			func(v float64) bool { return v >= 0.9 }),
	}
}
