package scyllastate

import (
	"strings"
	"testing"
)

func TestEverySchemaStatementHasAKnownForm(t *testing.T) {
	files := append([]string{schemaDir + "/schema.cql"}, updateFiles(0)...)
	if len(files) < 3 {
		t.Fatalf("schema files: %v", files)
	}
	for _, f := range files {
		stmts, err := statementsOf(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) == 0 {
			t.Fatalf("%s has no statement", f)
		}
		for _, st := range stmts {
			q, err := qualify(st, "ks")
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if !strings.Contains(q, " ks.") {
				t.Fatalf("%s: %q not qualified: %q", f, st, q)
			}
		}
	}
}

func TestSchemaVersionsAreConsecutive(t *testing.T) {
	ms, err := schemaVersions()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.CurrVersion != i+1 {
			t.Fatalf("versioned/%d declares version %d", i+1, m.CurrVersion)
		}
		if m.MinCompatibleVersion > m.CurrVersion || len(m.SchemaUpdateCqlFiles) == 0 {
			t.Fatalf("version %d: bad manifest %+v", m.CurrVersion, m)
		}
	}
	if SchemaVersion != len(ms) {
		t.Fatalf("SchemaVersion %d, %d versions", SchemaVersion, len(ms))
	}
}

func TestCompatibility(t *testing.T) {
	for _, tc := range []struct {
		v, min int
		ok     bool
	}{
		{SchemaVersion, SchemaVersion, true},
		{SchemaVersion + 1, SchemaVersion, true},
		{SchemaVersion + 1, SchemaVersion + 1, false},
		{MinCompatibleSchemaVersion - 1, MinCompatibleSchemaVersion - 1, false},
		{0, 0, false},
	} {
		err := checkCompatible("ks", storedVersion{tc.v, tc.min})
		if (err == nil) != tc.ok {
			t.Errorf("version %d (min %d): err %v, want ok=%v", tc.v, tc.min, err, tc.ok)
		}
	}
}
