package statetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

// Factory returns a new, empty state for one test. The factory registers
// its own cleanup.
type Factory func(t *testing.T) state.State

// Run runs the state.State conformance suite against the states that
// newState returns.
func Run(t *testing.T, newState Factory) {
	t.Run("AddGet", func(t *testing.T) { testAddGet(t, newState(t)) })
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, newState(t)) })
	t.Run("Has", func(t *testing.T) { testHas(t, newState(t)) })
	t.Run("AddReplaces", func(t *testing.T) { testAddReplaces(t, newState(t)) })
	t.Run("Rm", func(t *testing.T) { testRm(t, newState(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newState(t)) })
	t.Run("ListEmpty", func(t *testing.T) { testListEmpty(t, newState(t)) })
	t.Run("ListCancelled", func(t *testing.T) { testListCancelled(t, newState(t)) })
	t.Run("MarshalUnmarshal", func(t *testing.T) { testMarshalUnmarshal(t, newState(t), newState(t)) })
	t.Run("Batching", func(t *testing.T) { testBatching(t, newState(t)) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustAdd(t *testing.T, st state.WriteOnly, pins ...api.Pin) {
	t.Helper()
	for _, p := range pins {
		if err := st.Add(ctxT(t), p); err != nil {
			t.Fatalf("Add(%s): %v", p.Cid, err)
		}
	}
}

// ListAll collects a full listing and checks that List closes the channel.
func ListAll(t testing.TB, ctx context.Context, st state.ReadOnly) map[api.Cid]api.Pin {
	t.Helper()
	out := make(chan api.Pin, 64)
	errc := make(chan error, 1)
	go func() { errc <- st.List(ctx, out) }()
	got := map[api.Cid]api.Pin{}
	for p := range out { // ends only if List closes out
		if _, dup := got[p.Cid]; dup {
			t.Errorf("List sent %s twice", p.Cid)
		}
		got[p.Cid] = p
	}
	if err := <-errc; err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func testAddGet(t *testing.T, st state.State) {
	ctx := ctxT(t)
	for i := 0; i < 6; i++ {
		p := Pin(i)
		mustAdd(t, st, p)
		got, err := st.Get(ctx, p.Cid)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		RequireEqual(t, p, got)
	}
}

func testGetMissing(t *testing.T, st state.State) {
	_, err := st.Get(ctxT(t), Cid(42))
	// Upstream's Cluster compares with == (cluster.go pin()), so the
	// error must be state.ErrNotFound itself, not a wrapper.
	if err != state.ErrNotFound { //nolint:errorlint
		t.Fatalf("Get of a missing pin: want state.ErrNotFound itself (upstream compares with ==), got %v", err)
	}
	// Upstream's adder asks for the undefined CID (api.CidUndef).
	if _, err := st.Get(ctxT(t), api.CidUndef); err != state.ErrNotFound { //nolint:errorlint
		t.Fatalf("Get of the undefined CID: want state.ErrNotFound, got %v", err)
	}
	if ok, err := st.Has(ctxT(t), api.CidUndef); ok || err != nil {
		t.Fatalf("Has of the undefined CID: want false, nil; got %v, %v", ok, err)
	}
}

func testHas(t *testing.T, st state.State) {
	ctx := ctxT(t)
	mustAdd(t, st, Pin(1))
	if ok, err := st.Has(ctx, Cid(1)); err != nil || !ok {
		t.Fatalf("Has(added) = %v, %v; want true", ok, err)
	}
	if ok, err := st.Has(ctx, Cid(2)); err != nil || ok {
		t.Fatalf("Has(missing) = %v, %v; want false", ok, err)
	}
}

func testAddReplaces(t *testing.T, st state.State) {
	ctx := ctxT(t)
	p := Pin(1)
	mustAdd(t, st, p)
	p.Name = "renamed"
	p.Allocations = nil
	p.ReplicationFactorMin, p.ReplicationFactorMax = -1, -1
	mustAdd(t, st, p)
	got, err := st.Get(ctx, p.Cid)
	if err != nil {
		t.Fatal(err)
	}
	RequireEqual(t, p, got)
	if n := len(ListAll(t, ctx, st)); n != 1 {
		t.Fatalf("after replacing one pin the state lists %d pins, want 1", n)
	}
}

func testRm(t *testing.T, st state.State) {
	ctx := ctxT(t)
	mustAdd(t, st, Pin(1), Pin(2))
	if err := st.Rm(ctx, Cid(1)); err != nil {
		t.Fatalf("Rm: %v", err)
	}
	if err := st.Rm(ctx, Cid(99)); err != nil {
		t.Fatalf("Rm of a missing pin must be a no-op, got %v", err)
	}
	if _, err := st.Get(ctx, Cid(1)); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get after Rm: want ErrNotFound, got %v", err)
	}
	if ok, _ := st.Has(ctx, Cid(2)); !ok {
		t.Fatal("Rm removed another pin")
	}
}

func testList(t *testing.T, st state.State) {
	ctx := ctxT(t)
	const n = 250
	for i := 0; i < n; i++ {
		mustAdd(t, st, Pin(i))
	}
	got := ListAll(t, ctx, st)
	if len(got) != n {
		t.Fatalf("List returned %d pins, want %d", len(got), n)
	}
	for i := 0; i < n; i++ {
		p, ok := got[Cid(i)]
		if !ok {
			t.Fatalf("List misses pin %d", i)
		}
		RequireEqual(t, Pin(i), p)
	}
}

func testListEmpty(t *testing.T, st state.State) {
	if n := len(ListAll(t, ctxT(t), st)); n != 0 {
		t.Fatalf("empty state lists %d pins", n)
	}
}

func testListCancelled(t *testing.T, st state.State) {
	for i := 0; i < 50; i++ {
		mustAdd(t, st, Pin(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := make(chan api.Pin) // unbuffered, never read before cancel
	errc := make(chan error, 1)
	go func() { errc <- st.List(ctx, out) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("List with a cancelled context returned no error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("List did not return after its context was cancelled")
	}
	if _, open := <-out; open {
		t.Fatal("List did not close its channel")
	}
}

func testMarshalUnmarshal(t *testing.T, src, dst state.State) {
	ctx := ctxT(t)
	for i := 0; i < 20; i++ {
		mustAdd(t, src, Pin(i))
	}
	var buf bytes.Buffer
	if err := src.Marshal(&buf); err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if err := dst.Unmarshal(&buf); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	got := ListAll(t, ctx, dst)
	if len(got) != 20 {
		t.Fatalf("after Unmarshal the state lists %d pins, want 20", len(got))
	}
	for i := 0; i < 20; i++ {
		RequireEqual(t, Pin(i), got[Cid(i)])
	}
}

// Batcher is a state that can make a batching view of itself.
type Batcher interface {
	BatchingState(t *testing.T) state.BatchingState
}

func testBatching(t *testing.T, st state.State) {
	b, ok := st.(Batcher)
	if !ok {
		t.Fatalf("%T does not offer a batching view to the suite", st)
	}
	ctx := ctxT(t)
	mustAdd(t, st, Pin(100))
	bs := b.BatchingState(t)
	for i := 0; i < 30; i++ {
		if err := bs.Add(ctx, Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bs.Rm(ctx, Cid(100)); err != nil {
		t.Fatal(err)
	}
	if err := bs.Rm(ctx, Cid(29)); err != nil { // buffered add then rm: rm wins
		t.Fatal(err)
	}
	if ok, _ := st.Has(ctx, Cid(0)); ok {
		t.Fatal("a batched Add was visible before Commit")
	}
	if err := bs.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got := ListAll(t, ctx, st)
	if len(got) != 29 {
		t.Fatalf("after Commit the state lists %d pins, want 29", len(got))
	}
	if _, ok := got[Cid(100)]; ok {
		t.Fatal("batched Rm was not applied")
	}
	if _, ok := got[Cid(29)]; ok {
		t.Fatal("Rm after Add of the same CID in one batch did not win")
	}
}
