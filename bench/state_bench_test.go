//go:build integration

package bench

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/pebble"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"
	ds "github.com/ipfs/go-datastore"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/pinset"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// listPins is the size of the pinset that the List benchmark scans.
const listPins = 20000

type backend struct {
	name string
	// open returns a fresh empty state and a batching view of it.
	open func(b *testing.B) (state.State, state.BatchingState)
}

var backends = []backend{
	{"pebble", func(b *testing.B) (state.State, state.BatchingState) {
		cfg := &pebble.Config{}
		_ = cfg.Default()
		cfg.SetBaseDir(b.TempDir())
		store, err := pebble.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = store.Close() })
		st, err := dsstate.New(context.Background(), store, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		bst, err := dsstate.NewBatching(context.Background(), store.(ds.Batching), "", nil)
		if err != nil {
			b.Fatal(err)
		}
		return st, bst
	}},
	{"scylla", func(b *testing.B) (state.State, state.BatchingState) {
		st := cqltest.New(b, cqltest.Config(b, cqltest.DefaultPrefix))
		return st, st.Batch()
	}},
}

func pins(n int) []api.Pin {
	ps := make([]api.Pin, n)
	for i := range ps {
		ps[i] = statetest.Pin(i)
	}
	return ps
}

func reportPinsPerSecond(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pins/s")
}

// BenchmarkAdd adds pins one at a time.
func BenchmarkAdd(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st, _ := be.open(b)
			ps := pins(b.N)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := st.Add(ctx, ps[i]); err != nil {
					b.Fatal(err)
				}
			}
			reportPinsPerSecond(b, b.N)
		})
	}
}

// BenchmarkBatchAdd adds b.N pins through the batching state and commits.
func BenchmarkBatchAdd(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			_, bst := be.open(b)
			ps := pins(b.N)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := bst.Add(ctx, ps[i]); err != nil {
					b.Fatal(err)
				}
			}
			if err := bst.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			reportPinsPerSecond(b, b.N)
		})
	}
}

// BenchmarkGet reads pins one at a time from a pinset of 1000.
func BenchmarkGet(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st, bst := be.open(b)
			ps := fill(b, bst, 1000)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := st.Get(ctx, ps[i%len(ps)].Cid); err != nil {
					b.Fatal(err)
				}
			}
			reportPinsPerSecond(b, b.N)
		})
	}
}

// BenchmarkList lists a pinset of listPins pins; one op is one full list.
func BenchmarkList(b *testing.B) {
	benchScan(b, func() func(api.Pin) error {
		return func(api.Pin) error { return nil }
	})
}

// BenchmarkExport lists the pinset and encodes every pin as the NDJSON
// of `state export` does (written to io.Discard): with -cpuprofile it
// shows where an export's time goes.
func BenchmarkExport(b *testing.B) {
	benchScan(b, func() func(api.Pin) error {
		enc := json.NewEncoder(io.Discard)
		return func(p api.Pin) error { return enc.Encode(p) }
	})
}

// benchScan fills each backend with listPins pins and times full scans,
// each pin handed to a visitor from newVisit.
func benchScan(b *testing.B, newVisit func() func(api.Pin) error) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st, bst := be.open(b)
			fill(b, bst, listPins)
			ctx := context.Background()
			visit := newVisit()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n := 0
				err := pinset.Each(ctx, st, func(p api.Pin) error { n++; return visit(p) })
				if err != nil {
					b.Fatal(err)
				}
				if n != listPins {
					b.Fatalf("listed %d pins, want %d", n, listPins)
				}
			}
			reportPinsPerSecond(b, b.N*listPins)
		})
	}
}

func fill(b *testing.B, bst state.BatchingState, n int) []api.Pin {
	ps := pins(n)
	ctx := context.Background()
	for _, p := range ps {
		if err := bst.Add(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	if err := bst.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return ps
}
