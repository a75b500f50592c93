package cqlaudit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gocql/gocql"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT  a\n\tFROM t_0123456789ab.pins   WHERE cid = ?;", "SELECT a FROM <keyspace>.pins WHERE cid = ?"},
		{"SELECT a FROM t_0123456789ab.pins WHERE cid = ? USING TIMEOUT 10000ms", "SELECT a FROM <keyspace>.pins WHERE cid = ? USING TIMEOUT <timeout>"},
		{"CREATE KEYSPACE IF NOT EXISTS t_aaaaaaaaaaaa WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = true",
			"CREATE KEYSPACE IF NOT EXISTS <keyspace> WITH replication = <replication> AND durable_writes = true"},
		// Not a test keyspace: left alone (and so undocumented).
		{"SELECT a FROM my_pins.pins WHERE cid = ?", "SELECT a FROM my_pins.pins WHERE cid = ?"},
		{"SELECT a FROM t_0123456789abc.pins", "SELECT a FROM t_0123456789abc.pins"},
	}
	for _, c := range cases {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

const testSchema = `
-- a comment; with a semicolon
CREATE TABLE IF NOT EXISTS pins (
    cid blob PRIMARY KEY,
    pin blob,
    user_allocations list<blob>
);
CREATE TABLE IF NOT EXISTS pin_events (
    bucket bigint, shard tinyint, event_id timeuuid, cid blob,
    PRIMARY KEY ((bucket, shard), event_id, cid)
) WITH compaction = {'class': 'TimeWindowCompactionStrategy'};
CREATE TABLE IF NOT EXISTS feed_members (
    component text, member text, m map<text, text>,
    PRIMARY KEY (component, member)
);
CREATE TABLE IF NOT EXISTS peer_checkpoints (reader text PRIMARY KEY, position timestamp);
INSERT INTO pins (cid) VALUES (0x00);
`

func TestPartitionKeys(t *testing.T) {
	got, err := PartitionKeys(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"pins":             {"cid"},
		"pin_events":       {"bucket", "shard"},
		"feed_members":     {"component"},
		"peer_checkpoints": {"reader"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PartitionKeys = %v, want %v", got, want)
	}
	if _, err := PartitionKeys(testSchema, "CREATE TABLE pins (a int, cid blob, PRIMARY KEY (a, cid));"); err == nil {
		t.Fatal("a table created with two partition keys: no error")
	}
}

const testCatalogue = "# Statements\n\n## pins\n\n" +
	"```cql stmt scylla=timeout\nSELECT cid FROM <keyspace>.pins\n  WHERE cid = ?\n```\n\n" +
	"```cql stmt scylla=bypass-cache range=token\nSELECT cid FROM <keyspace>.pins WHERE token(cid) >= ? AND token(cid) <= ?\n```\n\n" +
	"```cql stmt\nINSERT INTO <keyspace>.pins (cid) VALUES (?) USING TIMESTAMP ?\n```\n\n" +
	"```cql stmt\nCREATE TABLE IF NOT EXISTS <keyspace>.pins ( cid blob PRIMARY KEY )\n```\n\n" +
	"## peer_checkpoints\n\n" +
	"```cql stmt scylla=timeout range=upgrade\nSELECT reader FROM <keyspace>.peer_checkpoints\n```\n\n" +
	"## events\n\n" +
	"```cql stmt\nSELECT cid FROM <keyspace>.pin_events WHERE bucket = ? AND shard IN ? AND event_id > ?\n```\n\n" +
	"```cql stmt\nSELECT version FROM system.versions WHERE key = 'local'\n```\n\n" +
	"```cql stmt\nSELECT peer FROM system.peers\n```\n\n" +
	"An example, not a statement of the product:\n\n```cql\nSELECT * FROM anything ALLOW FILTERING;\n```\n"

func testAuditor(t *testing.T) *Auditor {
	t.Helper()
	cat, err := ParseCatalogue(testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	pks, err := PartitionKeys(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	return &Auditor{Catalogue: cat, PartitionKeys: pks, UpgradeTables: map[string]bool{"peer_checkpoints": true}}
}

func rulesOf(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	return out
}

func TestCatalogue(t *testing.T) {
	a := testAuditor(t)
	if n := len(a.Catalogue.Entries); n != 8 {
		t.Fatalf("%d entries, want 8 (the plain cql block is no statement)", n)
	}
	e := a.Catalogue.Lookup("SELECT cid FROM <keyspace>.pins WHERE cid = ? USING TIMEOUT <timeout>")
	if e == nil || e.Section != "pins" || e.Statement != "SELECT cid FROM <keyspace>.pins WHERE cid = ?" {
		t.Fatalf("ScyllaDB variant of a multi-line block: %+v", e)
	}
	if a.Catalogue.Lookup("SELECT cid FROM <keyspace>.pins WHERE cid = ? BYPASS CACHE USING TIMEOUT <timeout>") != nil {
		t.Fatal("a variant the entry does not declare is allowed")
	}
	if vs := a.CheckCatalogue(); len(vs) != 0 {
		t.Fatalf("the test catalogue breaks rules: %v", vs)
	}

	bad := map[string]string{
		"unclosed":          "```cql stmt\nSELECT 1",
		"empty":             "```cql stmt\n\n```",
		"unknown attribute": "```cql stmt fast=yes\nSELECT a FROM system.local\n```",
		"twice":             "```cql stmt\nSELECT a FROM system.local\n```\n```cql stmt\nSELECT  a FROM system.local\n```",
		"variant twice":     "```cql stmt scylla=timeout\nSELECT a FROM system.local\n```\n```cql stmt\nSELECT a FROM system.local USING TIMEOUT <timeout>\n```",
		"two token listers": "```cql stmt range=token\nSELECT a FROM k.t WHERE token(a) > ?\n```\n```cql stmt range=token\nSELECT b FROM k.t WHERE token(b) > ?\n```",
	}
	for name, md := range bad {
		if _, err := ParseCatalogue(md); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRules(t *testing.T) {
	a := testAuditor(t)
	cases := []struct {
		stmt    string
		inBatch bool
		want    []string // rules broken, in order
	}{
		// Documented and fine, on Cassandra and ScyllaDB.
		{"SELECT cid FROM <keyspace>.pins WHERE cid = ?", false, nil},
		{"SELECT cid FROM <keyspace>.pins WHERE cid = ? USING TIMEOUT <timeout>", false, nil},
		{"SELECT cid FROM <keyspace>.pins WHERE token(cid) >= ? AND token(cid) <= ? BYPASS CACHE USING TIMEOUT <timeout>", false, nil},
		{"INSERT INTO <keyspace>.pins (cid) VALUES (?) USING TIMESTAMP ?", true, nil},
		{"SELECT reader FROM <keyspace>.peer_checkpoints USING TIMEOUT <timeout>", false, nil},
		{"SELECT cid FROM <keyspace>.pin_events WHERE bucket = ? AND shard IN ? AND event_id > ?", false, nil},
		{"CREATE TABLE IF NOT EXISTS <keyspace>.pins ( cid blob PRIMARY KEY )", false, nil},
		{"SELECT peer FROM system.peers", false, nil}, // a server table: any read

		// Conditional writes.
		{"INSERT INTO <keyspace>.pins (cid) VALUES (?) IF NOT EXISTS", false, []string{RuleUndocumented, RuleConditional}},
		{"UPDATE <keyspace>.pins SET pin = ? WHERE cid = ? IF EXISTS", false, []string{RuleUndocumented, RuleConditional}},
		{"UPDATE <keyspace>.pins SET pin = ? WHERE cid = ? IF pin = ?", true, []string{RuleUndocumented, RuleConditional}},
		{"delete from <keyspace>.pins where cid = ? if exists", false, []string{RuleUndocumented, RuleConditional}},
		{"BEGIN BATCH INSERT INTO <keyspace>.pins (cid) VALUES (?) IF NOT EXISTS APPLY BATCH", false, []string{RuleUndocumented, RuleConditional}},
		// IF in a literal or an identifier is no condition; IF NOT
		// EXISTS of a schema statement is allowed.
		{"INSERT INTO <keyspace>.pins (cid, diff) VALUES (?, 'IF EXISTS')", false, []string{RuleUndocumented}},
		{"CREATE KEYSPACE IF NOT EXISTS <keyspace> WITH replication = <replication>", false, []string{RuleUndocumented}},
		{"DROP TABLE IF EXISTS <keyspace>.pins", false, []string{RuleUndocumented}},

		// ALLOW FILTERING, even on a fixed partition.
		{"SELECT cid FROM <keyspace>.pins WHERE cid = ? AND pin = ? ALLOW FILTERING", false, []string{RuleUndocumented, RuleAllowFiltering}},

		// Range reads.
		{"SELECT cid FROM <keyspace>.pins", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT cid FROM <keyspace>.pins WHERE cid > ?", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT cid FROM <keyspace>.pin_events WHERE bucket = ?", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT cid FROM <keyspace>.pin_events WHERE bucket = ? AND shard > ?", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT cid FROM <keyspace>.pins WHERE token(cid) > ?", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT reader FROM <keyspace>.peer_checkpoints WHERE token(reader) > ?", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT member FROM <keyspace>.feed_members", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT x FROM <keyspace>.unknown WHERE x = ?", false, []string{RuleUndocumented, RuleRangeRead}},
		{"SELECT * FROM pins WHERE cid = ?", false, []string{RuleUndocumented}}, // unqualified: still the schema's table

		// ScyllaDB clauses.
		{"INSERT INTO <keyspace>.pins (cid) VALUES (?) USING TIMEOUT <timeout>", true, []string{RuleUndocumented, RuleBatchTimeout}},
		{"INSERT INTO <keyspace>.pins (cid) VALUES (?) USING TTL ? AND TIMEOUT <timeout>", true, []string{RuleUndocumented, RuleBatchTimeout}},
		{"SELECT cid FROM <keyspace>.pins WHERE cid = ? USING TIMEOUT <timeout> LIMIT 1", false, []string{RuleUndocumented, RuleClauseOrder}},
		{"SELECT cid FROM <keyspace>.pins WHERE cid = ? BYPASS CACHE LIMIT 1", false, []string{RuleUndocumented, RuleClauseOrder}},
		{"SELECT cid FROM <keyspace>.pins WHERE cid = ? LIMIT 1 BYPASS CACHE USING TIMEOUT <timeout>", false, []string{RuleUndocumented}},
	}
	for _, c := range cases {
		got := rulesOf(a.Check(c.stmt, c.inBatch))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Check(%q, batch %v) = %v, want %v", c.stmt, c.inBatch, got, c.want)
		}
	}
}

// A range= mark on a statement that is not what it claims is reported.
func TestCatalogueMarksAreChecked(t *testing.T) {
	pks, _ := PartitionKeys(testSchema)
	for _, md := range []string{
		"```cql stmt range=token\nSELECT cid FROM <keyspace>.pins WHERE cid = ?\n```",
		"```cql stmt range=upgrade\nSELECT member FROM <keyspace>.feed_members\n```",
		"```cql stmt\nINSERT INTO <keyspace>.pins (cid) VALUES (?) IF NOT EXISTS\n```",
	} {
		cat, err := ParseCatalogue(md)
		if err != nil {
			t.Fatal(err)
		}
		a := &Auditor{Catalogue: cat, PartitionKeys: pks, UpgradeTables: map[string]bool{"peer_checkpoints": true}}
		if vs := a.CheckCatalogue(); len(vs) == 0 {
			t.Errorf("no violation for the catalogue %q", md)
		}
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	ctx := context.Background()
	r.ObserveQuery(ctx, gocql.ObservedQuery{Statement: "SELECT cid FROM t_0123456789ab.pins WHERE cid = ?"})
	r.ObserveQuery(ctx, gocql.ObservedQuery{Statement: "SELECT cid FROM t_ba9876543210.pins  WHERE cid = ?"})
	r.ObserveBatch(ctx, gocql.ObservedBatch{Statements: []string{
		"INSERT INTO t_0123456789ab.pins (cid) VALUES (?) USING TIMESTAMP ?",
		"INSERT INTO t_0123456789ab.pins (cid) VALUES (?) IF NOT EXISTS",
	}})
	uses := r.Uses() // sorted by statement
	if len(uses) != 3 {
		t.Fatalf("uses: %+v", uses)
	}
	if u := uses[2]; u.Statement != "SELECT cid FROM <keyspace>.pins WHERE cid = ?" || u.Count != 2 || u.InBatch {
		t.Fatalf("use of the read: %+v", u)
	}
	if !strings.Contains(uses[2].Caller, "TestRecorder") {
		t.Fatalf("caller of the read: %q", uses[2].Caller)
	}
	if !uses[0].InBatch || !uses[1].InBatch || !r.Seen("INSERT INTO <keyspace>.pins (cid) VALUES (?) USING TIMESTAMP ?") {
		t.Fatalf("batch statements not recorded as such: %+v", uses)
	}

	vs := testAuditor(t).Audit(uses)
	if got := rulesOf(vs); !reflect.DeepEqual(got, []string{RuleUndocumented, RuleConditional}) {
		t.Fatalf("Audit = %v", vs)
	}
	if vs[1].Use == nil || vs[1].Use.Statement != "INSERT INTO <keyspace>.pins (cid) VALUES (?) IF NOT EXISTS" {
		t.Fatalf("violation without its use: %+v", vs[1])
	}
	if s := vs[1].String(); !strings.Contains(s, "[conditional]") || !strings.Contains(s, "in a batch") || !strings.Contains(s, "sent 1 time") {
		t.Fatalf("report of a violation: %s", s)
	}
}

type fakeRun struct {
	run  func()
	code int
}

func (f fakeRun) Run() int { f.run(); return f.code }

// Main fails a passing run whose product statements break a rule, and
// keeps the code of a failing one.
func TestMainAudits(t *testing.T) {
	var report bytes.Buffer
	stderr = &report
	defer func() { stderr = os.Stderr }()
	r := NewRecorder()
	if code := Main(fakeRun{run: func() {}}, r); code != 0 {
		t.Fatalf("nothing sent: code %d", code)
	}
	r.Record("SELECT cid FROM t_0123456789ab.pins", false)
	if code := Main(fakeRun{run: func() {}}, r); code != 1 {
		t.Fatalf("a range read: code %d", code)
	}
	if code := Main(fakeRun{run: func() {}, code: 2}, r); code != 2 {
		t.Fatalf("a failed run: code %d", code)
	}
	if !strings.Contains(report.String(), "cqlaudit: FAIL: 2 violation(s)") {
		t.Fatalf("report of Main:\n%s", report.String())
	}
	var out bytes.Buffer
	if err := Report(&out, r, false); !errors.Is(err, ErrViolations) || !strings.Contains(out.String(), "[range-read] SELECT cid FROM <keyspace>.pins") {
		t.Fatalf("Report: %v\n%s", err, out.String())
	}
}

// The catalogue of this module parses and lists nothing the rules forbid.
func TestModuleCatalogue(t *testing.T) {
	a, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range a.CheckCatalogue() {
		t.Errorf("%s", v)
	}
	for _, table := range []string{"pins", "pin_events", "feed_members", "feed_layout", "pin_expiry", "schema_history", "schema_version", UpgradeTable} {
		if len(a.PartitionKeys[table]) == 0 {
			t.Errorf("no partition key read for table %s", table)
		}
	}
	var lister, upgrade int
	for _, e := range a.Catalogue.Entries {
		switch e.Range {
		case RangeToken:
			lister++
		case RangeUpgrade:
			upgrade++
		}
	}
	if lister != 1 || upgrade != 1 {
		t.Errorf("%d token-range listers and %d upgrade reads marked, want one each", lister, upgrade)
	}
}
