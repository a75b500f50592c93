package scyllastate

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// allStatements lists every statement of a set, by field name.
func allStatements(st statements) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(st)
	for i := range v.NumField() {
		out[v.Type().Field(i).Name] = v.Field(i).String()
	}
	return out
}

// On Cassandra no statement carries ScyllaDB's clauses (a syntax error
// there); on ScyllaDB every read gives the server the driver's timeout,
// the full scan bypasses the row cache, and no write in a batch carries
// a timeout (ScyllaDB refuses it inside a batch).
func TestStatementsPerServerKind(t *testing.T) {
	cass := allStatements(newStatements("ks", Cassandra, 7*time.Second))
	scylla := allStatements(newStatements("ks", Scylla, 7*time.Second))
	batched := map[string]bool{"insertPin": true, "deletePin": true, "markUnpin": true, "insertEvent": true, "insertExpiry": true}
	for name, q := range cass {
		if q == "" {
			t.Errorf("statement %s is empty", name)
		}
		if strings.Contains(q, "TIMEOUT") || strings.Contains(q, "BYPASS CACHE") {
			t.Errorf("Cassandra statement %s carries a ScyllaDB clause: %q", name, q)
		}
		s := scylla[name]
		read := strings.HasPrefix(q, "SELECT")
		switch {
		case read && !strings.HasSuffix(s, " USING TIMEOUT 7000ms"):
			t.Errorf("ScyllaDB read %s without USING TIMEOUT at its end: %q", name, s)
		case batched[name] && strings.Contains(s, "TIMEOUT"):
			t.Errorf("ScyllaDB batched write %s carries a timeout: %q", name, s)
		case !read && s != q && !batched[name]:
			// Single writes may carry one; nothing else may change.
			if strings.Replace(s, " USING TIMEOUT 7000ms", "", 1) != q {
				t.Errorf("ScyllaDB write %s differs beyond USING TIMEOUT:\n%q\n%q", name, q, s)
			}
		}
		if strings.Contains(s, "BYPASS CACHE") != (name == "scan") {
			t.Errorf("BYPASS CACHE on %s: %q (only the full scan bypasses the cache)", name, s)
		}
	}
	if got := scylla["scan"]; !strings.HasSuffix(got, "token(cid) <= ? BYPASS CACHE USING TIMEOUT 7000ms") {
		t.Errorf("ScyllaDB scan: %q", got)
	}
}

// No statement of the product is a lightweight transaction, whatever the
// server: ScyllaDB keyspaces with tablets refuse them.
func TestNoConditionalStatement(t *testing.T) {
	for _, kind := range []ServerKind{Cassandra, Scylla} {
		for name, q := range allStatements(newStatements("ks", kind, time.Second)) {
			if isConditional(q) {
				t.Errorf("%s statement %s is conditional: %q", kind, name, q)
			}
		}
	}
	files := append([]string{schemaDir + "/schema.cql"}, updateFiles(0)...)
	for _, f := range files {
		stmts, err := statementsOf(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range stmts {
			if isConditional(q) {
				t.Errorf("%s: conditional statement %q", f, q)
			}
		}
	}
}

// isConditional tells whether a DML statement has an IF clause.
func isConditional(q string) bool {
	u := strings.ToUpper(q)
	if strings.HasPrefix(u, "CREATE ") || strings.HasPrefix(u, "DROP ") {
		return false
	}
	return strings.Contains(u, " IF ")
}
