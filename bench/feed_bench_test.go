//go:build integration

package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/procstat"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The change feed's layout (event_partitions) against its two costs: an
// idle peer's poll, and the ingest of `state import`. Both report the
// database's CPU per operation, read from /proc of the Cassandra node
// that scripts/cassandra.sh started on this machine
// (CASSANDRA_PID_FILE, default its main node's pid file).

// feedLayouts are the partitions per minute compared.
var feedLayouts = []int{4, 32}

// dbCPU measures the database node's CPU time.
type dbCPU struct {
	pid   int
	start time.Duration
}

func startDBCPU(b *testing.B) *dbCPU {
	path := os.Getenv("CASSANDRA_PID_FILE")
	if path == "" {
		path = "/tmp/ipfs-cluster-scylla-cassandra/main/node1/pid"
	}
	pid, err := procstat.PIDFile(path)
	if err != nil {
		b.Fatalf("the database's CPU is part of this benchmark: %v (set CASSANDRA_PID_FILE to the node's pid file)", err)
	}
	c := &dbCPU{pid: pid}
	c.reset(b)
	return c
}

func (c *dbCPU) reset(b *testing.B) {
	t, err := procstat.CPUTime(c.pid)
	if err != nil {
		b.Fatal(err)
	}
	c.start = t
}

// report reports the database CPU since reset per op, in µs.
func (c *dbCPU) report(b *testing.B, ops int, unit string) {
	t, err := procstat.CPUTime(c.pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((t-c.start).Microseconds())/float64(ops), "db-µs/"+unit)
}

func layoutStore(b *testing.B, partitions int) *scyllastate.ScyllaState {
	cfg := cqltest.Config(b, cqltest.DefaultPrefix)
	cfg.EventPartitions = partitions
	return cqltest.New(b, cfg)
}

// The layouts are measured side by side, interleaved, in every iteration
// (the order alternating): one after the other, the second runs on a
// database warmed or burdened by the first, and that alone moved the
// figures by 5 to 10 %.

// sideBySide runs each layout's step once per iteration, alternating the
// order, and reports per layout the database CPU per unit, the time per
// unit, and the ratio of the last layout to the first. prepare sets a
// step up, untimed, and returns it.
func sideBySide(b *testing.B, unit string, perStep int, prepare func(b *testing.B, layout int) (step func())) {
	cpu := startDBCPU(b)
	took := make([]time.Duration, len(feedLayouts))
	dbTime := make([]time.Duration, len(feedLayouts))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range feedLayouts {
			j := k
			if i%2 == 1 {
				j = len(feedLayouts) - 1 - k
			}
			step := prepare(b, j)
			start := time.Now()
			cpu.reset(b)
			step()
			took[j] += time.Since(start)
			t, err := procstat.CPUTime(cpu.pid)
			if err != nil {
				b.Fatal(err)
			}
			dbTime[j] += t - cpu.start
		}
	}
	b.StopTimer()
	units := float64(b.N * perStep)
	for j, n := range feedLayouts {
		b.ReportMetric(float64(dbTime[j].Microseconds())/units, fmt.Sprintf("db-µs/%s@%d", unit, n))
		b.ReportMetric(float64(took[j].Microseconds())/units, fmt.Sprintf("µs/%s@%d", unit, n))
	}
	last := len(feedLayouts) - 1
	b.ReportMetric(float64(dbTime[last])/float64(dbTime[0]), fmt.Sprintf("db-cpu-ratio-%d/%d", feedLayouts[last], feedLayouts[0]))
	b.ReportMetric(float64(took[0])/float64(took[last]), fmt.Sprintf("rate-ratio-%d/%d", feedLayouts[last], feedLayouts[0]))
}

// BenchmarkIdlePoll is what an idle peer asks the database at each poll:
// the events of the current minute after its cursors: "index", as the
// feed reads (the activity index of the minute, then the partitions it
// names: none when idle); "one query" per minute for all its partitions;
// "per partition", one query each, as the feed read before.
func BenchmarkIdlePoll(b *testing.B) {
	for _, mode := range []string{"index", "one query", "per partition"} {
		b.Run(mode, func(b *testing.B) {
			stores := make([]*scyllastate.ScyllaState, len(feedLayouts))
			for j, n := range feedLayouts {
				stores[j] = layoutStore(b, n)
			}
			ctx := context.Background()
			cursor := scyllastate.MinEventID(time.Now())
			after := func(scyllastate.Partition) scyllastate.EventID { return cursor }
			none := func(scyllastate.Partition, scyllastate.Event) error { return nil }
			const polls = 20
			sideBySide(b, "poll", polls, func(b *testing.B, j int) func() {
				return func() {
					for range polls {
						now := time.Now()
						partitions := stores[j].Feed().Partitions
						if mode == "index" {
							partitions = stores[j].Feed().ActivePartitions
						}
						parts, err := partitions(ctx, now, now)
						if err != nil {
							b.Fatal(err)
						}
						var groups [][]scyllastate.Partition
						if len(parts) > 0 {
							groups = [][]scyllastate.Partition{parts}
						}
						if mode == "per partition" {
							groups = nil
							for _, p := range parts {
								groups = append(groups, []scyllastate.Partition{p})
							}
						}
						for _, g := range groups {
							if err := stores[j].Feed().ReadPartitions(ctx, g, after, scyllastate.MaxEventID(now), none); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
			})
		})
	}
}

// ingestPins is the size of one import of BenchmarkIngest.
const ingestPins = 20000

// BenchmarkIngest imports pins through a BatchingState, as `state import`
// does, into a fresh keyspace of each layout: the events spread over the
// partitions of the minute.
func BenchmarkIngest(b *testing.B) {
	ps := pins(ingestPins)
	ctx := context.Background()
	round := 0
	var (
		last      *scyllastate.Config
		lastStore *scyllastate.ScyllaState
	)
	sideBySide(b, "pin", ingestPins, func(b *testing.B, j int) func() {
		if last != nil { // the previous step's: a test node's heap holds few
			_ = lastStore.Close()
			cqltest.DropKeyspace(b, last)
		}
		cfg := cqltest.Config(b, cqltest.DefaultPrefix)
		cfg.EventPartitions = feedLayouts[j]
		st := cqltest.New(b, cfg)
		bst := st.Batch()
		last, lastStore = cfg, st
		round++
		return func() {
			for _, p := range ps {
				if err := bst.Add(ctx, withName(p, round)); err != nil {
					b.Fatal(err)
				}
			}
			if err := bst.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func withName(p api.Pin, round int) api.Pin {
	p.Name = fmt.Sprintf("round-%d", round)
	return p
}
