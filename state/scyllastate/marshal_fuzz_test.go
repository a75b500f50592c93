package scyllastate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/inmem"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// dsMarshal returns upstream dsstate's Marshal of pins.
func dsMarshal(t testing.TB, pins ...api.Pin) []byte {
	t.Helper()
	st, err := dsstate.New(context.Background(), inmem.New(), "", dsstate.DefaultHandle())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pins {
		if err := st.Add(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := st.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// maxDecodeAlloc bounds what decoding n bytes of a stream may allocate:
// a corrupt length must not make the decoder reserve gigabytes. ugorji
// reserves up to 64 MiB at once for a byte slice written as an array.
func maxDecodeAlloc(n int) uint64 { return 65<<20 + 64*uint64(n) }

// decodeAll reads a Marshal stream as Unmarshal does, without a database:
// the rows it would write, in order, or the error that would stop it.
func decodeAll(t *testing.T, data []byte) ([]pinRow, error) {
	dec := newEntryDecoder(bytes.NewReader(data))
	var rows []pinRow
	// Every entry takes at least one byte: more entries than bytes means
	// the decoder no longer moves.
	for i := 0; i <= len(data); i++ {
		row, err := decodeEntry(dec)
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
	t.Fatalf("decodeEntry returned more than %d entries from %d bytes: it does not advance", len(data), len(data))
	return nil, nil
}

// FuzzUnmarshalStream feeds decodeEntry, the decoding half of Unmarshal
// (the other half writes rows to the database), any stream. It must end
// with io.EOF or an error, never panic or loop; every entry it accepts
// must decode to a pin, the very pin upstream dsstate reads from the
// same stream.
func FuzzUnmarshalStream(f *testing.F) {
	f.Add(dsMarshal(f, statetest.Pin(0), statetest.Pin(1), statetest.Pin(2)))
	f.Add(dsMarshal(f, statetest.Pin(3)))
	f.Add([]byte{})
	f.Add([]byte{0xc1, 0xff, 0x00})
	f.Add([]byte{0x82, 0xa1, 'k', 0xa0, 0xa1, 'v', 0xc6, 0xff, 0xff, 0xff, 0xff}) // bin32 claiming 4 GiB
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})                                   // map32 claiming 2^32-1 keys
	f.Add([]byte{0x82, 0xa0, 0xc6, 0xff, 0xff, 0xff, 0xff})                       // unknown key "", bin32 of 4 GiB
	f.Add([]byte{0x93, 0xa0, 0xa0, 0xc6, 0xff, 0xff, 0xff, 0xff})                 // an array entry with a third value
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rows, err := decodeAll(t, data)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxDecodeAlloc(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), alloc)
		}
		pins := make(map[string]api.Pin, len(rows))
		for _, row := range rows {
			p, derr := row.decode()
			if derr != nil {
				t.Fatalf("decodeEntry accepted a row that does not decode: %v", derr)
			}
			pins[string(row.cid)] = p
		}
		if err != nil {
			return
		}
		// The whole stream was accepted: upstream reads the same pins.
		ds, derr := dsstate.New(context.Background(), inmem.New(), "", dsstate.DefaultHandle())
		if derr != nil {
			t.Fatal(derr)
		}
		if derr := ds.Unmarshal(bytes.NewReader(data)); derr != nil {
			t.Fatalf("scyllastate accepts a stream that dsstate refuses: %v", derr)
		}
		got := listDS(t, ds)
		if len(got) != len(pins) {
			t.Fatalf("dsstate reads %d pins from the stream, scyllastate %d", len(got), len(pins))
		}
		for k, p := range pins {
			requireSamePin(t, got[k], p)
		}
	})
}

func listDS(t *testing.T, st *dsstate.State) map[string]api.Pin {
	out := make(chan api.Pin, 16)
	errCh := make(chan error, 1)
	go func() { errCh <- st.List(context.Background(), out) }()
	got := map[string]api.Pin{}
	for p := range out {
		got[string(p.Cid.Bytes())] = p
	}
	if err := <-errCh; err != nil {
		t.Fatal(err)
	}
	return got
}

// TestTruncatedStreamIsAnError: a Marshal stream cut anywhere but between
// two entries is an error, not a shorter pinset.
func TestTruncatedStreamIsAnError(t *testing.T) {
	one := dsMarshal(t, statetest.Pin(1))
	data := dsMarshal(t, statetest.Pin(1), statetest.Pin(2))
	for cut := 1; cut < len(data); cut++ {
		if cut == len(one) && bytes.Equal(data[:cut], one) || bytes.Equal(data[cut:], one) {
			continue // a cut between the two entries
		}
		rows, err := decodeAll(t, data[:cut])
		if err == nil {
			t.Fatalf("stream of %d bytes cut at %d: %d entries and no error", len(data), cut, len(rows))
		}
	}
}
