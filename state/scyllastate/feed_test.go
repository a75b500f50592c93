//go:build integration

package scyllastate_test

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func events(t *testing.T, st *scyllastate.ScyllaState, from, to time.Time) []scyllastate.Event {
	t.Helper()
	var out []scyllastate.Event
	err := st.Feed().Events(context.Background(), from, to, func(e scyllastate.Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryChangeIsInTheFeed(t *testing.T) {
	st := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	ctx := context.Background()
	before := time.Now()
	for i := 1; i <= 20; i++ {
		if err := st.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	b := st.Batch()
	for i := 1; i <= 5; i++ {
		if err := b.Rm(ctx, statetest.Cid(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	got := events(t, st, before.Add(-time.Second), after.Add(time.Second))
	ops := map[string][]scyllastate.Op{}
	for _, e := range got {
		ops[e.Cid.String()] = append(ops[e.Cid.String()], e.Op)
		if e.Time().Before(before.Add(-time.Second)) || e.Time().After(after.Add(time.Second)) {
			t.Errorf("event %s at %s, outside the write window", e.ID, e.Time())
		}
	}
	if len(got) != 25 || len(ops) != 20 {
		t.Fatalf("%d events for %d CIDs, want 25 for 20", len(got), len(ops))
	}
	for i := 1; i <= 20; i++ {
		want := []scyllastate.Op{scyllastate.OpPin}
		if i <= 5 {
			want = append(want, scyllastate.OpUnpin)
		}
		have := ops[statetest.Cid(i).String()]
		if len(have) != len(want) || have[0] != scyllastate.OpPin || have[len(have)-1] != want[len(want)-1] {
			t.Errorf("pin %d: events %v, want %v", i, have, want)
		}
	}
	if n := len(events(t, st, after.Add(2*time.Second), after.Add(time.Hour))); n != 0 {
		t.Errorf("%d events after the writes, want 0", n)
	}
}

func TestCheckpointsArePerReader(t *testing.T) {
	st := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	ctx := context.Background()
	if _, ok, err := st.Feed().Checkpoint(ctx, "peerA"); ok || err != nil {
		t.Fatalf("a new reader has a checkpoint: %v %v", ok, err)
	}
	pos := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	if err := st.Feed().SaveCheckpoint(ctx, "peerA", pos); err != nil {
		t.Fatal(err)
	}
	got, ok, err := st.Feed().Checkpoint(ctx, "peerA")
	if err != nil || !ok || !got.Equal(pos) {
		t.Fatalf("checkpoint %v %v %v, want %v", got, ok, err, pos)
	}
	if _, ok, _ := st.Feed().Checkpoint(ctx, "peerB"); ok {
		t.Fatal("another reader sees peerA's checkpoint")
	}
}
