package service

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/consensus/crdt"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// guardedStore is a peer's datastore that records every use while it is
// being closed or after it was. Queries on the crdt blocks are slowed
// down, so that one running in the background is still running when the
// store is closed.
type guardedStore struct {
	ds.Batching
	blocks string // key prefix of the crdt blocks

	mu       sync.Mutex
	inFlight int
	closed   bool
	misuses  []string
}

func (g *guardedStore) enter(op string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.misuses = append(g.misuses, op+" after Close")
	}
	g.inFlight++
}

func (g *guardedStore) exit() {
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
}

func (g *guardedStore) uses() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.misuses...)
}

func (g *guardedStore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	g.enter("Get")
	defer g.exit()
	return g.Batching.Get(ctx, k)
}

func (g *guardedStore) Has(ctx context.Context, k ds.Key) (bool, error) {
	g.enter("Has")
	defer g.exit()
	return g.Batching.Has(ctx, k)
}

func (g *guardedStore) GetSize(ctx context.Context, k ds.Key) (int, error) {
	g.enter("GetSize")
	defer g.exit()
	return g.Batching.GetSize(ctx, k)
}

func (g *guardedStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	g.enter("Put")
	defer g.exit()
	return g.Batching.Put(ctx, k, v)
}

func (g *guardedStore) Delete(ctx context.Context, k ds.Key) error {
	g.enter("Delete")
	defer g.exit()
	return g.Batching.Delete(ctx, k)
}

func (g *guardedStore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	g.enter("Query " + q.Prefix)
	defer g.exit()
	if strings.HasPrefix(q.Prefix, g.blocks) {
		time.Sleep(200 * time.Millisecond)
	}
	return g.Batching.Query(ctx, q)
}

func (g *guardedStore) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight > 0 {
		g.misuses = append(g.misuses, "Close while in use")
	}
	g.closed = true
	return g.Batching.Close()
}

// TestCrdtStoreCloseWaitsForItsUsers opens and closes the crdt datastore
// of a peer as the `state crdt` commands do: nothing may still use the
// peer's datastore when it is closed (with pebble, that was a data race
// with ipfs-lite's bloom-filter build, which queries every block key).
func TestCrdtStoreCloseWaitsForItsUsers(t *testing.T) {
	cfg := &crdt.Config{}
	if err := cfg.Default(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := dssync.MutexWrap(ds.NewMapDatastore())
	blocks := ds.NewKey(cfg.DatastoreNamespace).ChildString(crdt.BlocksNs).String()
	for i, write := range []bool{true, false, false} {
		g := &guardedStore{Batching: base, blocks: blocks}
		c, err := openCrdtOn(g, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if write {
			// A block in the DAG, for the next opens to have blocks to scan.
			if err := c.Put(ctx, ds.NewKey("/k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
		} else if v, err := c.Get(ctx, ds.NewKey("/k")); err != nil || string(v) != "v" {
			t.Fatalf("open %d: Get = %q, %v; want the value put before", i, v, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("open %d: Close: %s", i, err)
		}
		// Give a goroutine left running the time to use the closed store.
		time.Sleep(300 * time.Millisecond)
		if m := g.uses(); len(m) > 0 {
			t.Fatalf("open %d: the peer's datastore was used while or after being closed: %v", i, m)
		}
	}
}
