package pinset_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/inmem"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/pinset"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

func TestEachVisitsEveryPinAndStopsOnError(t *testing.T) {
	ctx := context.Background()
	st, err := dsstate.New(ctx, inmem.New(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2500 {
		if err := st.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[api.Cid]bool{}
	if err := pinset.Each(ctx, st, func(p api.Pin) error { seen[p.Cid] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2500 {
		t.Fatalf("visited %d pins, want 2500", len(seen))
	}
	stop := errors.New("stop")
	n := 0
	err = pinset.Each(ctx, st, func(api.Pin) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("after an error: %v, %d calls; want the error after 10 calls", err, n)
	}
}
