//go:build integration

package scyllastate_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// TestUnmarshalTruncatedStreamFails: a Marshal stream cut inside an entry
// is refused as truncated, not imported as a smaller pinset.
func TestUnmarshalTruncatedStreamFails(t *testing.T) {
	ctx := testCtx(t)
	buf := dsStream(t, ctx, 3)
	sc := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	err := sc.Unmarshal(bytes.NewReader(buf.Bytes()[:buf.Len()-5]))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Unmarshal of a truncated stream: %v; want an error saying it is truncated", err)
	}
}

// TestUnmarshalHugeDeclaredLength: an entry field that claims 4 GiB is
// refused without reserving it.
func TestUnmarshalHugeDeclaredLength(t *testing.T) {
	sc := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := sc.Unmarshal(bytes.NewReader([]byte{0x82, 0xa0, 0xc6, 0xff, 0xff, 0xff, 0xff}))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("Unmarshal accepted a 7-byte stream claiming a 4 GiB value")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("Unmarshal of 7 bytes allocated %d bytes", alloc)
	}
}

// TestUnmarshalFuzzSeedsLikeDSState runs every seed of the fuzz corpus
// (testdata/fuzz/FuzzUnmarshalStream: real Marshal streams and the
// crashers found) through the whole Unmarshal, into the database: each is
// refused with an error, or imports exactly the pins upstream dsstate
// reads from it.
func TestUnmarshalFuzzSeedsLikeDSState(t *testing.T) {
	ctx := testCtx(t)
	files, err := filepath.Glob("testdata/fuzz/FuzzUnmarshalStream/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus in testdata/fuzz/FuzzUnmarshalStream (%v)", err)
	}
	accepted := 0
	sc := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	for _, f := range files {
		data := corpusBytes(t, f)
		for c := range statetest.ListAll(t, ctx, sc) { // each seed on an empty pinset
			if err := sc.Rm(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := sc.Unmarshal(bytes.NewReader(data)); err != nil {
			t.Logf("%s: refused: %v", filepath.Base(f), err)
			continue
		}
		accepted++
		up := newDS(t)
		if err := up.Unmarshal(bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: scyllastate imports a stream dsstate refuses: %v", filepath.Base(f), err)
		}
		want, got := statetest.ListAll(t, ctx, up), statetest.ListAll(t, ctx, sc)
		if len(got) != len(want) {
			t.Fatalf("%s: %d pins imported, dsstate reads %d", filepath.Base(f), len(got), len(want))
		}
		for c, p := range want {
			statetest.RequireEqual(t, p, got[c])
		}
	}
	if accepted == 0 {
		t.Fatal("no seed imports: the corpus lost its real Marshal streams")
	}
}

// corpusBytes reads a one-value []byte fuzz corpus file.
func corpusBytes(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s is not a []byte fuzz corpus file", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}
