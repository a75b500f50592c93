//go:build integration

package scyllastate_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// v1Keyspace makes a keyspace as a version 1 build did, with pins and
// change events in the version 1 form.
func v1Keyspace(t *testing.T, pins []api.Pin) *scyllastate.Config {
	t.Helper()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	s := cqltest.Session(t, cfg)
	defer s.Close()
	if err := s.Query("CREATE KEYSPACE " + cfg.Keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
		t.Fatal(err)
	}
	if err := scyllastate.ApplyCQLFile(s, cfg.Keyspace, "schema/cassandra/versioned/v1/schema.cql"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, p := range pins {
		if err := s.Query("INSERT INTO "+cfg.Keyspace+".pins (cid, pin, mode, user_allocations, ts_ns, expire_at_ns) VALUES (?, ?, ?, ?, ?, ?)",
			scyllastate.V1Row(p)...).Exec(); err != nil {
			t.Fatal(err)
		}
		part := scyllastate.EventPartition(now, p.Cid)
		if err := s.Query("INSERT INTO "+cfg.Keyspace+".pin_events (bucket, shard, event_id, cid, op) VALUES (?, ?, ?, ?, ?)",
			part.Bucket, part.Shard, gocql.UUIDFromTime(now), p.Cid.Bytes(), int8(scyllastate.OpPin)).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func v1Pins() []api.Pin {
	pins := make([]api.Pin, 20)
	for i := range pins {
		p := statetest.Pin(i + 1)
		p.Timestamp = time.Unix(1_700_000_000, int64(i)*1_000_003) // below a second: kept by the v1 columns
		if i%3 == 0 {
			p.UserAllocations = p.Allocations
		}
		pins[i] = p
	}
	return pins
}

func TestVersion1KeyspaceIsUpgradedInPlace(t *testing.T) {
	pins := v1Pins()
	cfg := v1Keyspace(t, pins)
	ctx := testCtx(t)

	// schema_mode check never upgrades: it names the file to apply.
	check := *cfg
	check.SchemaMode = scyllastate.SchemaModeCheck
	_, err := scyllastate.New(ctx, &check)
	if !errors.Is(err, scyllastate.ErrSchema) || !strings.Contains(err.Error(), "versioned/v2/update.cql") {
		t.Fatalf("schema_mode check on a v1 keyspace: want an error naming the update file, got %v", err)
	}

	st := cqltest.New(t, cfg)
	for _, p := range pins {
		got, err := st.Get(ctx, p.Cid)
		if err != nil {
			t.Fatalf("pin %s after the upgrade: %v", p.Cid, err)
		}
		if !got.Equals(p) || !got.Timestamp.Equal(p.Timestamp) || len(got.UserAllocations) != len(p.UserAllocations) {
			t.Fatalf("pin %s changed by the upgrade:\n got %+v\nwant %+v", p.Cid, got, p)
		}
	}
	if n := len(statetest.ListAll(t, ctx, st)); n != len(pins) {
		t.Fatalf("%d pins listed after the upgrade, want %d", n, len(pins))
	}

	// Version 1 events are still read, as events without a change.
	var legacy int
	err = st.Events(ctx, time.Now().Add(-time.Hour), time.Now(), func(e scyllastate.Event) error {
		if e.Legacy && e.Op == scyllastate.OpPin {
			legacy++
		}
		return nil
	})
	if err != nil || legacy != len(pins) {
		t.Fatalf("%d version 1 events read (%v), want %d", legacy, err, len(pins))
	}

	// Old rows are rewritten in the new form.
	p := pins[0]
	p.UserAllocations = nil
	p.Name = "rewritten"
	if err := st.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, p.Cid)
	if err != nil || got.Name != "rewritten" || len(got.UserAllocations) != 0 {
		t.Fatalf("rewritten v1 pin: %+v, %v", got, err)
	}

	// Opening again finds version 2 and changes nothing.
	again := cqltest.New(t, cfg)
	if _, err := again.Get(ctx, pins[1].Cid); err != nil {
		t.Fatal(err)
	}
}

// columns lists "table.column type" of a keyspace.
func columns(t *testing.T, cfg *scyllastate.Config) []string {
	t.Helper()
	s := cqltest.Session(t, cfg)
	defer s.Close()
	iter := s.Query("SELECT table_name, column_name, type FROM system_schema.columns WHERE keyspace_name = ?", cfg.Keyspace).Iter()
	var out []string
	var table, col, typ string
	for iter.Scan(&table, &col, &typ) {
		out = append(out, table+"."+col+" "+typ)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// The whole current schema (for new keyspaces) and the versioned updates
// (for old ones) must make the same tables.
func TestFullSchemaEqualsTheVersionedUpdates(t *testing.T) {
	fresh := cqltest.Config(t, cqltest.DefaultPrefix)
	cqltest.New(t, fresh)
	upgraded := v1Keyspace(t, nil)
	cqltest.New(t, upgraded)
	a, b := columns(t, fresh), columns(t, upgraded)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("schema.cql and the versioned updates differ:\nschema.cql:\n%s\nupdates:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}
