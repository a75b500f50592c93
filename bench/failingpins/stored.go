package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/pinset"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// seedWorkers write the stored errors in parallel.
const seedWorkers = 64

// seedErrors writes n failed pins of the peer straight into the keyspace's
// tracker_errors, as its tracker stores them (the -stored mode: the list
// of a million errors without the hour it takes a peer to fail them).
func (b *bench) seedErrors(ctx context.Context, db *cassandra.Instance) error {
	var ident struct {
		ID string `json:"id"`
	}
	raw, err := os.ReadFile(filepath.Join(b.peer.Dir, "identity.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &ident); err != nil || ident.ID == "" {
		return fmt.Errorf("the peer's identity.json: no id (%v)", err)
	}
	cfg := &scyllastate.Config{Hosts: db.Hosts, Port: db.Port, Keyspace: b.keyspace}
	if err := cfg.Default(); err != nil {
		return err
	}
	cfg.Hosts, cfg.Port, cfg.Keyspace = db.Hosts, db.Port, b.keyspace
	st, err := scyllastate.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("opening keyspace %s: %w", b.keyspace, err)
	}
	defer st.Close()
	t0 := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, seedWorkers)
	for range seedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < b.n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				c := api.NewCid(pinset.CID(b.series(), i))
				pin := api.PinCid(c)
				pin.ReplicationFactorMin, pin.ReplicationFactorMax = -1, -1
				e := scyllastate.TrackerError{
					Cid: c, Error: "block was not found locally (offline): ipld: could not find " + c.String(),
					Attempts: 1, FailedAt: time.Now(), Pin: pin,
				}
				if err := st.RecordTrackerError(ctx, ident.ID, e); err != nil {
					errc <- err
					return
				}
				if d := done.Add(1); d%100000 == 0 {
					b.logf("stored %d errors (%s)", d, secs(time.Since(t0)))
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("storing the errors: %w", err)
	}
	b.logf("stored %d errors of peer %s in %s", done.Load(), ident.ID, secs(time.Since(t0)))
	return ctx.Err()
}
