//go:build integration

package scyllastate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// A command that only reads or removes pins (state export, cleanup) opens
// the store with WithExistingPinset: a mistyped keyspace must fail, naming
// it, and must not be created (it would then read as an empty pinset).
func TestExistingPinsetIsNeverCreated(t *testing.T) {
	ctx := testCtx(t)
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	_, err := scyllastate.New(ctx, cfg, scyllastate.WithExistingPinset())
	if !errors.Is(err, scyllastate.ErrNoPinset) || !errors.Is(err, scyllastate.ErrSchema) ||
		!strings.Contains(err.Error(), `keyspace "`+cfg.Keyspace+`" does not exist`) {
		t.Fatalf("New on a missing keyspace: %v, want ErrNoPinset naming the keyspace", err)
	}
	s := cqltest.Session(t, cfg)
	defer s.Close()
	var name string
	if err := s.Query("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", cfg.Keyspace).Scan(&name); err == nil {
		t.Fatalf("keyspace %s was created by a store opened WithExistingPinset", cfg.Keyspace)
	}

	// A keyspace without the schema (made by hand) is refused the same way.
	if err := s.Query("CREATE KEYSPACE " + cfg.Keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
		t.Fatal(err)
	}
	if _, err := scyllastate.New(ctx, cfg, scyllastate.WithExistingPinset()); !errors.Is(err, scyllastate.ErrNoPinset) {
		t.Fatalf("New on a keyspace without the schema: %v, want ErrNoPinset", err)
	}

	// Once a peer has made the pinset, the store opens and reads it.
	st := cqltest.New(t, cfg)
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	ro := cqltest.New(t, cfg, scyllastate.WithExistingPinset())
	if ok, err := ro.Has(ctx, statetest.Cid(1)); err != nil || !ok {
		t.Fatalf("Has = %v, %v on the existing pinset", ok, err)
	}
}
