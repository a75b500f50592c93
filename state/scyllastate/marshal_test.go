//go:build integration

package scyllastate_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/datastore/inmem"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

func newDS(t *testing.T) *dsstate.State {
	st, err := dsstate.New(context.Background(), inmem.New(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dsStream is upstream dsstate's Marshal of pins 0..n-1.
func dsStream(t *testing.T, ctx context.Context, n int) *bytes.Buffer {
	t.Helper()
	src := newDS(t)
	for i := 0; i < n; i++ {
		if err := src.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := src.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// TestMarshalCompatibleWithDSState moves a pinset from upstream dsstate to
// scyllastate and back through Marshal/Unmarshal, and checks that one pin
// serializes to the same bytes in both.
func TestMarshalCompatibleWithDSState(t *testing.T) {
	ctx := testCtx(t)
	const n = 300
	buf := dsStream(t, ctx, n)
	sc := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	if err := sc.Unmarshal(buf); err != nil {
		t.Fatalf("scyllastate cannot read dsstate's Marshal: %v", err)
	}
	got := statetest.ListAll(t, ctx, sc)
	if len(got) != n {
		t.Fatalf("dsstate -> scyllastate: %d pins, want %d", len(got), n)
	}
	for i := 0; i < n; i++ {
		statetest.RequireEqual(t, statetest.Pin(i), got[statetest.Cid(i)])
	}

	buf.Reset()
	if err := sc.Marshal(buf); err != nil {
		t.Fatal(err)
	}
	back := newDS(t)
	if err := back.Unmarshal(buf); err != nil {
		t.Fatalf("dsstate cannot read scyllastate's Marshal: %v", err)
	}
	got = statetest.ListAll(t, ctx, back)
	if len(got) != n {
		t.Fatalf("scyllastate -> dsstate: %d pins, want %d", len(got), n)
	}
	for i := 0; i < n; i++ {
		statetest.RequireEqual(t, statetest.Pin(i), got[statetest.Cid(i)])
	}

	// Byte for byte, for a single pin.
	one := newDS(t)
	oneSc := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	p := statetest.Pin(7)
	if err := one.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := oneSc.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := one.Marshal(&a); err != nil {
		t.Fatal(err)
	}
	if err := oneSc.Marshal(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("Marshal of one pin differs:\ndsstate     %x\nscyllastate %x", a.Bytes(), b.Bytes())
	}
}

func TestUnmarshalGarbage(t *testing.T) {
	sc := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	if err := sc.Unmarshal(bytes.NewReader([]byte{0xc1, 0xff, 0x00})); err == nil {
		t.Fatal("Unmarshal of garbage returned no error")
	}
}
