package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config/configtest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// TestCrdtImportLeavesNothingRunningOnTheClosedDatastore runs `state
// import` on a stopped crdt/pebble peer, as the command does: the pins are
// all there afterwards, and no go-ds-crdt worker is left running once the
// import returned. Upstream's offline crdt state starts a DAG repair that
// nothing stops; reading pebble after the import closed it panicked the
// process ("pebble: closed").
func TestCrdtImportLeavesNothingRunningOnTheClosedDatastore(t *testing.T) {
	dir := t.TempDir()
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), config.Crdt, "pebble")
	if err != nil {
		t.Fatal(err)
	}
	if err := configtest.WriteNew(h, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for i := 1; i <= 50; i++ {
		if err := enc.Encode(statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= 2; round++ { // the second import replaces the first
		before := crdtGoroutines(0) // other tests' crdt peers, if any
		mgr, err := service.NewStateManager(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Import(ctx, bytes.NewReader(in.Bytes()), api.PinOptions{}); err != nil {
			t.Fatalf("import %d: %s", round, err)
		}
		if err := mgr.Close(); err != nil {
			t.Fatal(err)
		}
		if left := crdtGoroutines(len(before)); len(left) > len(before) {
			t.Fatalf("import %d returned with %d go-ds-crdt goroutines still running on the closed datastore:\n%s",
				round, len(left)-len(before), strings.Join(left, "\n\n"))
		}
	}
	mgr, err := service.NewStateManager(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	var out bytes.Buffer
	if err := mgr.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 50 {
		t.Errorf("export after two imports of 50 pins lists %d pins, want 50", n)
	}
}

// crdtGoroutines returns the stacks of the goroutines running go-ds-crdt
// code, waiting up to a second for those being stopped while there are
// more than want.
func crdtGoroutines(want int) []string {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		var found []string
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "go-ds-crdt") {
				found = append(found, g)
			}
		}
		if len(found) <= want || time.Now().After(deadline) {
			return found
		}
	}
}
