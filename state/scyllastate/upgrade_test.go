//go:build integration

package scyllastate_test

import (
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// emptyKeyspace creates a test keyspace with no table, as an older build
// found it, and returns a session to it.
func emptyKeyspace(t *testing.T) (*scyllastate.Config, *gocql.Session) {
	t.Helper()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	s := cqltest.Session(t, cfg)
	if err := s.Query("CREATE KEYSPACE " + cfg.Keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return cfg, s
}

// v1Keyspace makes a keyspace as a version 1 build did, with pins and
// change events in the version 1 form.
func v1Keyspace(t *testing.T, pins []api.Pin) *scyllastate.Config {
	t.Helper()
	cfg, s := emptyKeyspace(t)
	defer s.Close()
	if err := scyllastate.ApplyCQLFile(s, cfg.Keyspace, "schema/cassandra/versioned/v1/schema.cql"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	writeLegacyPins(t, s, cfg.Keyspace, pins, now)
	return cfg
}

// writeLegacyPins writes pins in the columns of schema version 1 and their
// events as builds of versions 1 to 3 did (4 partitions per minute, no
// payload).
func writeLegacyPins(t *testing.T, s *gocql.Session, ks string, pins []api.Pin, now time.Time) {
	t.Helper()
	for _, p := range pins {
		if err := s.Query("INSERT INTO "+ks+".pins (cid, pin, mode, user_allocations, ts_ns, expire_at_ns) VALUES (?, ?, ?, ?, ?, ?)",
			scyllastate.V1Row(p)...).Exec(); err != nil {
			t.Fatal(err)
		}
		part := scyllastate.LegacyEventPartition(now, p.Cid)
		if err := s.Query("INSERT INTO "+ks+".pin_events (bucket, shard, event_id, cid, op) VALUES (?, ?, ?, ?, ?)",
			part.Bucket, part.Shard, gocql.UUIDFromTime(now), p.Cid.Bytes(), int8(scyllastate.OpPin)).Exec(); err != nil {
			t.Fatal(err)
		}
	}
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
	err = st.Feed().Events(ctx, time.Now().Add(-time.Hour), time.Now(), func(e scyllastate.Event) error {
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

// v3Keyspace makes a keyspace as the last build of schema version 3 did
// (testdata/v3-schema.cql, its version row written by a lightweight
// transaction), with pins, change events in the 4 partitions per minute
// of that version, a reader's feed position and a writer that died with
// its writes unfinished.
func v3Keyspace(t *testing.T, pins []api.Pin, now time.Time) *scyllastate.Config {
	t.Helper()
	cfg, s := emptyKeyspace(t)
	defer s.Close()
	raw, err := os.ReadFile("testdata/v3-schema.cql")
	if err != nil {
		t.Fatal(err)
	}
	if err := scyllastate.ApplyCQLText(s, cfg.Keyspace, "v3-schema.cql", raw); err != nil {
		t.Fatal(err)
	}
	writeLegacyPins(t, s, cfg.Keyspace, pins, now)
	for _, q := range []struct {
		stmt string
		args []any
	}{
		{"UPDATE " + cfg.Keyspace + ".peer_checkpoints SET position = ?, updated_at = ? WHERE reader = 'peer-a'", []any{now.Add(-time.Minute), now}},
		{"UPDATE " + cfg.Keyspace + ".peer_checkpoints SET heartbeat = ?, safe_before = ?, closed = false, data_center = 'dc1' WHERE reader = 'writer-dead'",
			[]any{now.Add(-time.Hour), now.Add(-2 * time.Hour)}},
	} {
		if err := s.Query(q.stmt, q.args...).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// A keyspace made by the last build of version 3 is upgraded in place:
// pins, events and feed positions kept, its feed layout (4 partitions per
// minute) kept until changed, and builds of version 3 refused from then on.
func TestVersion3KeyspaceIsUpgradedInPlace(t *testing.T) {
	ctx := testCtx(t)
	now := time.Now()
	pins := v1Pins()
	cfg := v3Keyspace(t, pins, now)

	check := *cfg
	check.SchemaMode = scyllastate.SchemaModeCheck
	if _, err := scyllastate.New(ctx, &check); !errors.Is(err, scyllastate.ErrSchema) || !strings.Contains(err.Error(), "versioned/v4/update.cql") {
		t.Fatalf("schema_mode check on a v3 keyspace: want an error naming the update file, got %v", err)
	}

	st := cqltest.New(t, cfg) // event_partitions: the default, 32
	in, err := diag.Inspect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	v, err := in.SchemaVersion(ctx)
	if err != nil || v.Version != scyllastate.SchemaVersion || v.MinCompatible != scyllastate.MinCompatibleSchemaVersion {
		t.Fatalf("schema version after the upgrade: %+v, %v", v, err)
	}
	// Builds of version 3 read schema_version: it must turn them away.
	sess := cqltest.Session(t, cfg)
	defer sess.Close()
	var legacy, legacyMin int
	if err := sess.Query("SELECT version, min_compatible FROM "+cfg.Keyspace+".schema_version WHERE component = 'scyllastate'").Scan(&legacy, &legacyMin); err != nil {
		t.Fatal(err)
	}
	if legacyMin <= 3 {
		t.Fatalf("schema_version says %d (min %d) after the upgrade: a version 3 build would use the keyspace", legacy, legacyMin)
	}

	for _, p := range pins {
		if _, err := st.Get(ctx, p.Cid); err != nil {
			t.Fatalf("pin %s after the upgrade: %v", p.Cid, err)
		}
	}
	var read int
	err = st.Feed().Events(ctx, now.Add(-time.Minute), time.Now(), func(e scyllastate.Event) error { read++; return nil })
	if err != nil || read != len(pins) {
		t.Fatalf("%d events of version 3 read after the upgrade (%v), want %d", read, err, len(pins))
	}

	// The layout stays that of version 3 whatever the setting: the
	// events already written are where every reader looks.
	layout, err := st.Feed().Layout(ctx)
	if err != nil || len(layout) != 0 {
		t.Fatalf("layout after the upgrade: %+v, %v (want none recorded: 4 partitions)", layout, err)
	}
	p := statetest.Pin(100)
	if err := st.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	want := scyllastate.LegacyEventPartition(time.Now(), p.Cid)
	var found int
	if err := sess.Query("SELECT count(*) FROM "+cfg.Keyspace+".pin_events WHERE bucket = ? AND shard = ? AND event_id > ? AND cid = ? ALLOW FILTERING",
		want.Bucket, want.Shard, gocql.MinTimeUUID(now), p.Cid.Bytes()).Scan(&found); err != nil || found != 1 {
		t.Fatalf("the event of a pin added after the upgrade is not in partition %+v of the version 3 layout (%d, %v)", want, found, err)
	}

	// Feed positions and writer heartbeats were copied.
	ws, err := st.Feed().Writers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]scyllastate.WriterInfo{}
	for _, w := range ws {
		got[w.ID] = w
	}
	if a, ok := got["peer-a"]; !ok || a.Position.IsZero() {
		t.Fatalf("the feed position of peer-a was not copied: %+v", ws)
	}
	if d, ok := got["writer-dead"]; !ok || !d.Stale(time.Now()) || d.DataCenter != "dc1" {
		t.Fatalf("the dead writer was not copied as stale: %+v", ws)
	}

	// Opening again changes nothing.
	again := cqltest.New(t, cfg)
	if ws2, err := again.Feed().Writers(ctx); err != nil || len(ws2) < len(ws) {
		t.Fatalf("writers after a second start: %+v, %v", ws2, err)
	}
}
