//go:build integration

package scyllacheck_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service/scyllacheck"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// run checks cfg and returns the report; the text and JSON renderings are
// logged and must not show the password.
func run(t *testing.T, cfg *scyllastate.Config, self string) *scyllacheck.Report {
	t.Helper()
	r := scyllacheck.Check(testCtx(t), scyllacheck.Options{State: cfg, Self: self, Reads: 3, FeedWindow: 10 * time.Minute})
	var text, js bytes.Buffer
	if err := r.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())
	if cfg.Password != "" && cfg.Password != cfg.Username && (strings.Contains(text.String(), cfg.Password) || strings.Contains(js.String(), cfg.Password)) {
		t.Fatalf("the report shows the password")
	}
	return r
}

// only returns the finding of a check (and subject), failing unless
// there is exactly one with status st.
func only(t *testing.T, r *scyllacheck.Report, st scyllacheck.Status, check string, subject ...string) scyllacheck.Finding {
	t.Helper()
	var got []scyllacheck.Finding
	for _, f := range r.Findings {
		if f.Check == check && (len(subject) == 0 || f.Subject == subject[0]) {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Status != st {
		t.Fatalf("want one %s %q %v finding, got %+v", st, check, subject, got)
	}
	return got[0]
}

// feedComponent is the partition of the store's rows in feed_members
// (and the other tables keyed by component).
const feedComponent = "scyllastate"

// rows returns the members of feed_members and their positions, as text
// (not the heartbeats, which a running store updates).
func rows(t *testing.T, s *gocql.Session, ks string) []string {
	t.Helper()
	iter := s.Query("SELECT member, position FROM "+ks+"."+scyllastate.CheckpointsTable+" WHERE component = ?", feedComponent).Iter()
	var (
		out    []string
		member string
		pos    time.Time
	)
	for iter.Scan(&member, &pos) {
		out = append(out, fmt.Sprintf("%s %d", member, pos.UnixMilli()))
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func keyspaceExists(t *testing.T, s *gocql.Session, ks string) bool {
	t.Helper()
	var name string
	err := s.Query("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", ks).Scan(&name)
	if err == gocql.ErrNotFound {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// A keyspace in use by a peer that follows the feed: OK, with the newest
// change and the peer's position, and the check writes nothing.
func TestHealthyKeyspace(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	ctx := testCtx(t)
	st := cqltest.New(t, cfg, scyllastate.WithWriterID("peerA"))
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	if err := st.Feed().SaveCheckpoint(ctx, "peerA", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	s := cqltest.Session(t, cfg)
	defer s.Close()
	before := rows(t, s, cfg.Keyspace)

	r := run(t, cfg, "peerA")
	if r.Verdict != scyllacheck.OK {
		t.Fatalf("verdict %s, want OK", r.Verdict)
	}
	host := cfg.Hosts[0]
	// The test database is Apache Cassandra: the server finding names it
	// with the version its system.local reports, and nothing of
	// ScyllaDB's (shards, tablets) is reported.
	var release string
	if err := s.Query("SELECT release_version FROM system.local WHERE key = 'local'").Scan(&release); err != nil {
		t.Fatal(err)
	}
	if f := only(t, r, scyllacheck.OK, "server"); f.Section != scyllacheck.SectionServer || f.Message != "Apache Cassandra "+release {
		t.Errorf("server finding %+v, want \"Apache Cassandra %s\"", f, release)
	}
	if srv := r.Facts.Server; srv == nil || srv.Kind != "cassandra" || srv.Version != release || srv.ShardAwarePort != 0 || srv.ShardAwarePorts != nil {
		t.Errorf("server facts %+v", srv)
	}
	for _, f := range r.Findings {
		if f.Check == "shard_awareness" || f.Check == "shard_aware_port" || f.Check == "tablets" {
			t.Errorf("a ScyllaDB finding on Cassandra: %+v", f)
		}
	}
	if f := only(t, r, scyllacheck.OK, "layout"); f.Message != fmt.Sprintf("%d partitions per minute", cfg.EventPartitions) {
		t.Errorf("layout: %q", f.Message)
	}
	only(t, r, scyllacheck.OK, "reach", host)
	only(t, r, scyllacheck.OK, "login", host)
	only(t, r, scyllacheck.OK, "clock", host)
	if f := only(t, r, scyllacheck.OK, "data_center", host); !strings.Contains(f.Message, "datacenter1") {
		t.Errorf("data center: %q", f.Message)
	}
	only(t, r, scyllacheck.OK, "version")
	only(t, r, scyllacheck.OK, "tables")
	if f := only(t, r, scyllacheck.OK, "latency"); !strings.Contains(f.Message, "3 reads") {
		t.Errorf("latency: %q", f.Message)
	}
	if f := only(t, r, scyllacheck.OK, "newest_event"); !strings.Contains(f.Message, statetest.Cid(1).String()) || !strings.Contains(f.Message, "by peerA") {
		t.Errorf("newest event: %q", f.Message)
	}
	if f := only(t, r, scyllacheck.OK, "position", "peerA"); !strings.Contains(f.Message, "behind") {
		t.Errorf("position: %q", f.Message)
	}
	feed := r.Facts.Feed
	if feed == nil || feed.NewestEvent == nil || feed.NewestEvent.Cid != statetest.Cid(1).String() || len(feed.Peers) != 1 || !feed.Peers[0].Alive {
		t.Errorf("feed facts: %+v", feed)
	}
	if after := rows(t, s, cfg.Keyspace); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("the check changed %s:\nbefore %q\nafter  %q", scyllastate.CheckpointsTable, before, after)
	}
}

// A keyspace that does not exist fails, and the check creates nothing,
// even with schema_mode create.
func TestMissingKeyspaceIsNotCreated(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.SchemaMode = scyllastate.SchemaModeCreate
	r := run(t, cfg, "peerA")
	if r.Verdict != scyllacheck.Fail || r.Failures != 1 {
		t.Fatalf("verdict %s with %d failures, want FAIL with 1", r.Verdict, r.Failures)
	}
	only(t, r, scyllacheck.Fail, "exists", cfg.Keyspace)
	only(t, r, scyllacheck.Skip, "tables")
	s := cqltest.Session(t, cfg)
	defer s.Close()
	if keyspaceExists(t, s, cfg.Keyspace) {
		t.Fatalf("the check created keyspace %s", cfg.Keyspace)
	}
}

// A keyspace without tables (made by a DBA, schema_mode check) fails on
// the tables, and the check creates none.
func TestMissingTablesAreNotCreated(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.SchemaMode = scyllastate.SchemaModeCheck
	s := cqltest.Session(t, cfg)
	defer s.Close()
	if err := s.Query("CREATE KEYSPACE " + cfg.Keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
		t.Fatal(err)
	}
	r := run(t, cfg, "")
	if f := only(t, r, scyllacheck.Fail, "tables"); !strings.Contains(f.Hint, "cqlsh") {
		t.Errorf("tables hint %q", f.Hint)
	}
	only(t, r, scyllacheck.Skip, "latency")
	var n int
	if err := s.Query("SELECT count(*) FROM system_schema.tables WHERE keyspace_name = ?", cfg.Keyspace).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the keyspace has %d tables after the check (%v), want 0", n, err)
	}
}

// A writer that died without closing is reported, naming the live peer
// that completes it; once completed (closed) it is not.
func TestStaleWriter(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	ctx := testCtx(t)
	st := cqltest.New(t, cfg, scyllastate.WithWriterID("peer-live"))
	if err := st.Feed().SaveCheckpoint(ctx, "peer-live", time.Now().Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	s := cqltest.Session(t, cfg)
	defer s.Close()
	died := time.Now().Add(-5 * time.Minute)
	if err := s.Query("UPDATE "+cfg.Keyspace+"."+scyllastate.CheckpointsTable+" SET position = ?, heartbeat = ?, safe_before = ?, closed = false WHERE component = ? AND member = 'peer-dead'",
		died.Add(-time.Minute), died, died, feedComponent).Exec(); err != nil {
		t.Fatal(err)
	}
	r := run(t, cfg, "peer-live")
	if r.Verdict != scyllacheck.Warn {
		t.Fatalf("verdict %s, want WARN", r.Verdict)
	}
	f := only(t, r, scyllacheck.Warn, "stale_writer", "peer-dead")
	if !strings.Contains(f.Hint, "peer-live") || !strings.Contains(f.Message, died.UTC().Format(time.RFC3339)) {
		t.Errorf("stale writer finding %+v", f)
	}
	only(t, r, scyllacheck.Info, "position", "peer-dead")

	if err := st.Feed().MarkWriterDone(ctx, "peer-dead", time.Now()); err != nil {
		t.Fatal(err)
	}
	r = run(t, cfg, "peer-live")
	if r.Verdict != scyllacheck.OK {
		t.Fatalf("after the writer is completed: verdict %s, want OK", r.Verdict)
	}
}

// An unreachable contact point fails with its address; the others are
// still checked.
func TestUnreachableHost(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	_ = cqltest.New(t, cfg)
	cfg.Hosts = append(cfg.Hosts, "127.0.0.1:1")
	cfg.ConnectTimeout = 2 * time.Second
	r := run(t, cfg, "")
	f := only(t, r, scyllacheck.Fail, "reach", "127.0.0.1:1")
	if !strings.Contains(f.Message, "127.0.0.1:1") {
		t.Errorf("reach: %q", f.Message)
	}
	only(t, r, scyllacheck.OK, "version")
	if r.Failures != 1 {
		t.Errorf("%d failures, want 1", r.Failures)
	}
}

// The change feed's layout: the partitions per minute the keyspace was
// created with, a scheduled change, and a warning while event_partitions
// differs from what the keyspace records.
func TestFeedLayout(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.EventPartitions = 8
	ctx := testCtx(t)
	st := cqltest.New(t, cfg)

	r := run(t, cfg, "")
	if f := only(t, r, scyllacheck.OK, "layout"); f.Message != "8 partitions per minute" {
		t.Errorf("layout: %q", f.Message)
	}
	if r.Verdict != scyllacheck.OK {
		t.Errorf("verdict %s, want OK", r.Verdict)
	}
	if n := r.Facts.Feed.PartitionsPerMinute; n == nil || *n != 8 || len(r.Facts.Feed.Layout) != 1 {
		t.Errorf("feed facts: partitions %v, layout %+v", n, r.Facts.Feed.Layout)
	}

	other := *cfg
	other.EventPartitions = 16
	r = run(t, &other, "")
	f := only(t, r, scyllacheck.Warn, "event_partitions")
	if !strings.Contains(f.Message, "records 8 partitions per minute") || !strings.Contains(f.Hint, "event-partitions 16") {
		t.Errorf("event_partitions finding %+v", f)
	}

	from, err := st.Feed().ScheduleEventPartitions(ctx, 16)
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, &other, "")
	f = only(t, r, scyllacheck.OK, "layout")
	if want := fmt.Sprintf("8 partitions per minute; scheduled: 16 from %s", from.UTC().Format(time.RFC3339)); !strings.HasPrefix(f.Message, want) {
		t.Errorf("layout %q, want %q...", f.Message, want)
	}
	if r.Verdict != scyllacheck.OK {
		t.Errorf("with the change scheduled as configured: verdict %s, want OK", r.Verdict)
	}
	r = run(t, cfg, "")
	if f := only(t, r, scyllacheck.Warn, "event_partitions"); !strings.Contains(f.Message, "records 16 partitions per minute from "+from.UTC().Format(time.RFC3339)) {
		t.Errorf("event_partitions %q", f.Message)
	}
}
