package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/inmem"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// memState is upstream's dsstate over an in-memory datastore: the state a
// crdt peer imports into, without a database.
func memState(t testing.TB) *dsstate.State {
	t.Helper()
	st, err := dsstate.New(context.Background(), inmem.New(), "", dsstate.DefaultHandle())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func listState(t testing.TB, st state.ReadOnly) map[string]api.Pin {
	t.Helper()
	out := make(chan api.Pin, 16)
	errCh := make(chan error, 1)
	go func() { errCh <- st.List(context.Background(), out) }()
	pins := map[string]api.Pin{}
	for p := range out {
		pins[p.Cid.KeyString()] = p
	}
	if err := <-errCh; err != nil {
		t.Fatal(err)
	}
	return pins
}

// exportSeed is what `ipfs-cluster-service state export` writes for pins.
func exportSeed(t testing.TB, pins ...api.Pin) []byte {
	t.Helper()
	st := memState(t)
	for _, p := range pins {
		if err := st.Add(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := exportPins(context.Background(), st, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzImportPins feeds `state import`'s reader any stream, with any
// replication overrides. It never panics or hangs; an error names the
// pin it stopped at; what it imports is what the stream holds, with the
// overrides applied; and the export of the result imports back to the
// same pinset. Seeds: testdata/fuzz/FuzzImportPins (real exports and the
// sharness import file) and the exports below.
func FuzzImportPins(f *testing.F) {
	f.Add(exportSeed(f, statetest.Pin(1), statetest.Pin(2), statetest.Pin(3)), 0, 0)
	f.Add(exportSeed(f, statetest.Pin(4)), 2, 3)
	f.Add([]byte(`{"cid":"QmbrCtydGyPeHiLURSPMqrvE5mCgMCwFYq3UD4XLCeAYw6","replication_factor_min":-1,"replication_factor_max":-1}`), -1, 0)
	f.Add([]byte(`{}`), 0, 0)
	f.Add([]byte(`{"cid":"QmbrCtydGyPeHiLURSPMqrvE5mCgMCwFYq3UD4XLCeAYw6"} {"cid":`), 0, 0)
	f.Add([]byte(`[{"cid":"QmbrCtydGyPeHiLURSPMqrvE5mCgMCwFYq3UD4XLCeAYw6"}]`), 0, 0)
	f.Fuzz(func(t *testing.T, data []byte, rfMin, rfMax int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		opts := api.PinOptions{ReplicationFactorMin: rfMin, ReplicationFactorMax: rfMax}
		st := &recState{State: memState(t)}
		n, err := importPins(ctx, bytes.NewReader(data), st, opts)
		if n > len(st.added) {
			t.Fatalf("import counts %d pins, but added %d", n, len(st.added))
		}
		// The same stream, decoded on its own: the pins import must add,
		// in order, with the overrides.
		dec := json.NewDecoder(bytes.NewReader(data))
		for i, got := range st.added {
			var p api.Pin
			if derr := dec.Decode(&p); derr != nil {
				t.Fatalf("import added pin #%d, which does not decode: %v", i+1, derr)
			}
			if rfMin > 0 {
				p.ReplicationFactorMin = rfMin
			}
			if rfMax > 0 {
				p.ReplicationFactorMax = rfMax
			}
			if w, g := statetest.Normalize(p), statetest.Normalize(got); !reflect.DeepEqual(w, g) {
				t.Fatalf("import added pin #%d as\n%+v\nthe stream holds\n%+v", i+1, g, w)
			}
		}
		if err != nil {
			if !strings.Contains(err.Error(), "pin") {
				t.Fatalf("import error does not say which pin: %v", err)
			}
			return
		}
		if n != len(st.added) {
			t.Fatalf("import counts %d pins, but added %d", n, len(st.added))
		}
		if derr := dec.Decode(new(api.Pin)); !errors.Is(derr, io.EOF) {
			t.Fatalf("import reported success after %d pins, but the stream holds more: %v", n, derr)
		}

		// What export writes imports back to the same pinset.
		got := listState(t, st)
		var buf bytes.Buffer
		if err := exportPins(ctx, st, &buf); err != nil {
			t.Fatalf("export of an imported state: %v", err)
		}
		back := memState(t)
		if _, err := importPins(ctx, &buf, back, api.PinOptions{}); err != nil {
			t.Fatalf("import of an export: %v", err)
		}
		if again := listState(t, back); !reflect.DeepEqual(normAll(again), normAll(got)) {
			t.Fatalf("export/import changed the pinset:\nbefore %v\nafter  %v", got, again)
		}
	})
}

// recState records the pins added to a state.
type recState struct {
	state.State
	added []api.Pin
}

func (r *recState) Add(ctx context.Context, p api.Pin) error {
	r.added = append(r.added, p)
	return r.State.Add(ctx, p)
}

func normAll(pins map[string]api.Pin) map[string]api.Pin {
	out := make(map[string]api.Pin, len(pins))
	for k, p := range pins {
		out[k] = statetest.Normalize(p)
	}
	return out
}
