package scyllastate

import (
	"reflect"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlaudit"
)

// catalogueKeyspace stands for the keyspace in docs/cql.md.
const catalogueKeyspace = cqlaudit.KeyspacePlaceholder

// builtStatements returns the statements newStatements builds, by field.
func builtStatements(kind ServerKind) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(newStatements(catalogueKeyspace, kind, 7*time.Second))
	for i := range v.NumField() {
		out[v.Type().Field(i).Name] = v.Field(i).String()
	}
	return out
}

// Every statement the store builds is in docs/cql.md, on Cassandra and on
// ScyllaDB (the same entry, with the ScyllaDB clauses it declares), and
// breaks no rule of internal/cqlaudit. The integration suites check the
// statements actually sent (their TestMain); this checks those a suite
// against Cassandra never sends.
func TestBuiltStatementsAreCatalogued(t *testing.T) {
	a, err := cqlaudit.Load()
	if err != nil {
		t.Fatal(err)
	}
	cass, scylla := builtStatements(Cassandra), builtStatements(Scylla)
	for name, q := range cass {
		c := cqlaudit.Normalize(q)
		s := cqlaudit.Normalize(scylla[name])
		for _, v := range a.Check(c, false) {
			t.Errorf("statement %s on Cassandra: %s", name, v)
		}
		for _, v := range a.Check(s, false) {
			t.Errorf("statement %s on ScyllaDB: %s", name, v)
		}
		if ec, es := a.Catalogue.Lookup(c), a.Catalogue.Lookup(s); ec != nil && es != nil {
			if ec != es || ec.Statement != c {
				t.Errorf("statement %s: docs/cql.md line %d lists the Cassandra form, line %d the ScyllaDB form: one entry must list both (scylla=...)", name, ec.Line, es.Line)
			}
		}
	}
}

// Every statement of the schema files the store applies (schema.cql for
// a new keyspace, the update files of versions 2 on for an upgrade) is in
// docs/cql.md, qualified as applyFile qualifies it.
func TestSchemaStatementsAreCatalogued(t *testing.T) {
	a, err := cqlaudit.Load()
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{schemaDir + "/schema.cql"}, updateFiles(1)...)
	for _, f := range files {
		stmts, err := statementsOf(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range stmts {
			q, err := qualify(stmt, catalogueKeyspace)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range a.Check(cqlaudit.Normalize(q), false) {
				t.Errorf("%s: %s", f, v)
			}
		}
	}
}
