//go:build integration

package scyllastate_test

import (
	"os"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlaudit"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// cqlRecorder records every statement the stores of this suite send.
var cqlRecorder = cqlaudit.NewRecorder()

// TestMain runs the integration suite with every statement the product
// sends recorded, then fails the run when one breaks the rules of
// docs/cql.md: a conditional write, ALLOW FILTERING, a range read other
// than the token-range lister and the upgrade copy, or a statement the
// page does not list (see internal/cqlaudit).
func TestMain(m *testing.M) { os.Exit(cqlaudit.Main(m, cqlRecorder)) }

// The audit sees what the store sends, and not what the tests send on
// their own sessions (internal/cqltest).
func TestCQLAuditObservesTheStoreOnly(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	st := cqltest.New(t, cfg)
	if _, err := st.Has(testCtx(t), statetest.Cid(1)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CREATE KEYSPACE IF NOT EXISTS <keyspace> WITH replication = <replication> AND durable_writes = true",
		"SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
	} {
		if !cqlRecorder.Seen(want) {
			t.Errorf("the audit did not see the store send %q", want)
		}
	}
	read := "SELECT cid, pin, meta, mode, user_allocations, ts_ns, expire_at_ns, writetime(pin), unpinned_at FROM <keyspace>.pins WHERE cid IN ?"
	if !cqlRecorder.Seen(read) && !cqlRecorder.Seen(read+" USING TIMEOUT "+cqlaudit.TimeoutPlaceholder) {
		t.Errorf("the audit did not see the store read a pin")
	}

	s := cqltest.Session(t, cfg)
	defer s.Close()
	own := "SELECT partitions FROM " + cfg.Keyspace + ".feed_layout WHERE component = 'cqlaudit-self-test'"
	if err := s.Query(own).Exec(); err != nil {
		t.Fatal(err)
	}
	if cqlRecorder.Seen(cqlaudit.Normalize(own)) {
		t.Errorf("the audit recorded a statement of the test's own session: %q", own)
	}
}
