package scyllastate

import (
	"reflect"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlaudit"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// The statements of tracker_errors are in docs/cql.md, on Cassandra and
// on ScyllaDB (one entry for both), and break no rule.
func TestTrackerErrorStatementsAreCatalogued(t *testing.T) {
	a, err := cqlaudit.Load()
	if err != nil {
		t.Fatal(err)
	}
	cass := reflect.ValueOf(newTrackerErrorStatements(catalogueKeyspace, Cassandra, 7*time.Second))
	scylla := reflect.ValueOf(newTrackerErrorStatements(catalogueKeyspace, Scylla, 7*time.Second))
	for i := range cass.NumField() {
		name := cass.Type().Field(i).Name
		c, s := cqlaudit.Normalize(cass.Field(i).String()), cqlaudit.Normalize(scylla.Field(i).String())
		for _, v := range a.Check(c, false) {
			t.Errorf("statement %s on Cassandra: %s", name, v)
		}
		for _, v := range a.Check(s, false) {
			t.Errorf("statement %s on ScyllaDB: %s", name, v)
		}
		if ec, es := a.Catalogue.Lookup(c), a.Catalogue.Lookup(s); ec != es {
			t.Errorf("statement %s: the Cassandra and ScyllaDB forms are not one entry of docs/cql.md", name)
		}
	}
}

// Errors spread over every bucket of a peer, each CID always in the same.
func TestTrackerErrorBucketsSpreadCids(t *testing.T) {
	seen := map[int16]int{}
	for n := range 64 * 200 {
		b := trackerErrorBucket(statetest.Cid(n))
		if b < 0 || b >= TrackerErrorBuckets || b != trackerErrorBucket(statetest.Cid(n)) {
			t.Fatalf("bucket %d of CID %d", b, n)
		}
		seen[b]++
	}
	for b := range int16(TrackerErrorBuckets) {
		if seen[b] < 100 || seen[b] > 300 {
			t.Errorf("bucket %d holds %d of 12800 CIDs", b, seen[b])
		}
	}
}
