package scyllastate

import (
	"strings"
	"testing"
	"time"
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

// A layout answers for each bucket with the newest row at or before it
// (4 partitions before any row), and vouches only for buckets that a
// change scheduled after it was read cannot reach: a change applies from
// layoutLead after it is scheduled, less half of it for clock skew.
func TestFeedLayoutAnswersAndHorizon(t *testing.T) {
	read := time.Unix(0, 1000*int64(eventBucket))
	l := &feedLayout{readAt: read, rows: []layoutRow{{from: 1020, partitions: 8}, {from: 0, partitions: 32}}}
	for _, tc := range []struct {
		bucket int64
		want   int
	}{{-5, legacyEventPartitions}, {0, 32}, {1019, 32}, {1020, 8}, {5000, 8}} {
		if got := l.at(tc.bucket); got != tc.want {
			t.Errorf("bucket %d: %d partitions, want %d", tc.bucket, got, tc.want)
		}
	}
	if got := (&feedLayout{}).at(7); got != legacyEventPartitions {
		t.Errorf("no row: %d partitions, want %d", got, legacyEventPartitions)
	}
	// A change scheduled the moment after the read applies from
	// bucketOf(read+layoutLead)+1: the horizon stays well before it.
	horizon := l.validThrough()
	earliestChange := bucketOf(read.Add(layoutLead)) + 1
	if horizon >= earliestChange || horizon < bucketOf(read) {
		t.Fatalf("horizon %d: want from the read's bucket %d to before the earliest change %d", horizon, bucketOf(read), earliestChange)
	}
	if earliestChange-horizon < int64(layoutLead/2/eventBucket) {
		t.Fatalf("horizon %d leaves less than %s of clock skew before %d", horizon, layoutLead/2, earliestChange)
	}
	for _, n := range []int{1, 4, 32, MaxEventPartitions} {
		for i := range 200 {
			if p := partitionOf([]byte{byte(i), byte(i >> 3), 7}, n); p < 0 || int(p) >= n {
				t.Fatalf("partition %d of %d", p, n)
			}
		}
	}
}
