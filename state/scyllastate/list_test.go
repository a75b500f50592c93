//go:build integration

package scyllastate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// TestListLargePinset lists 100k pins (every one exactly once) and then
// cancels a listing half way: List returns the context's error promptly
// and closes its channel.
func TestListLargePinset(t *testing.T) {
	const n = 100_000
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.WriteConcurrency = 64
	st := cqltest.New(t, cfg)
	ctx := testCtx(t)

	start := time.Now()
	b := st.Batch()
	for i := 0; i < n; i++ {
		p := statetest.Pin(i)
		p.Metadata = nil // keep rows small
		if err := b.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d pins in %s", n, time.Since(start))

	start = time.Now()
	out := make(chan api.Pin, 1024)
	errc := make(chan error, 1)
	go func() { errc <- st.List(ctx, out) }()
	seen := make(map[api.Cid]struct{}, n)
	for p := range out {
		if _, dup := seen[p.Cid]; dup {
			t.Fatalf("pin %s listed twice", p.Cid)
		}
		seen[p.Cid] = struct{}{}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("List returned %d pins, want %d", len(seen), n)
	}
	for i := 0; i < n; i += 997 {
		if _, ok := seen[statetest.Cid(i)]; !ok {
			t.Fatalf("pin %d missing", i)
		}
	}
	t.Logf("listed %d pins in %s", n, time.Since(start))

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out = make(chan api.Pin)
	go func() { errc <- st.List(cctx, out) }()
	got := 0
	for range out {
		got++
		if got == n/2 {
			cancel()
			break
		}
	}
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled List returned %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("List did not stop after cancel")
	}
	if _, open := <-out; open {
		t.Fatal("cancelled List left its channel open")
	}
}
