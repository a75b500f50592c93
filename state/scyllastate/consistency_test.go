package scyllastate_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func TestConsistencyIsReadWithoutRegardToCaseAndWrittenInCQL(t *testing.T) {
	var got struct{ C scyllastate.Consistency }
	if err := json.Unmarshal([]byte(`{"C": "local_quorum"}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.C != scyllastate.ConsistencyLocalQuorum || !got.C.Local() {
		t.Fatalf("local_quorum read as %v (local %v)", got.C, got.C.Local())
	}
	out, err := json.Marshal(got)
	if err != nil || string(out) != `{"C":"LOCAL_QUORUM"}` {
		t.Fatalf("written as %s (%v)", out, err)
	}
	err = json.Unmarshal([]byte(`{"C": "MOST"}`), &got)
	if err == nil || !strings.Contains(err.Error(), `"MOST"`) || !strings.Contains(err.Error(), "EACH_QUORUM") {
		t.Fatalf("a bad level gives %v, want the value and the valid levels", err)
	}
}

func TestConfigConsistencyLevelsAreParsedFromTheSettings(t *testing.T) {
	cfg := scyllastate.Config{Hosts: []string{"127.0.0.1"}, Consistency: "QUORUM"}
	cfg.Default()
	cfg.Hosts, cfg.Consistency = []string{"127.0.0.1"}, "quorum"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ConsistencyLevel() != scyllastate.ConsistencyQuorum || cfg.EventConsistencyLevel() != scyllastate.ConsistencyQuorum {
		t.Fatalf("levels %v and %v, want QUORUM for both (event_consistency empty)", cfg.ConsistencyLevel(), cfg.EventConsistencyLevel())
	}
	cfg.EventConsistency = "each_quorum"
	if cfg.EventConsistencyLevel() != scyllastate.ConsistencyEachQuorum {
		t.Fatalf("event level %v, want EACH_QUORUM", cfg.EventConsistencyLevel())
	}
	cfg.EventConsistency = "SERIAL"
	err := cfg.Validate()
	if !errors.Is(err, scyllastate.ErrInvalidConfig) || !strings.Contains(err.Error(), "event_consistency") || !strings.Contains(err.Error(), "LOCAL_ONE") {
		t.Fatalf("SERIAL as event_consistency: %v, want an error naming the field and the valid levels", err)
	}
}

func TestEventIDsOrderByTimeThenBits(t *testing.T) {
	now := time.Now()
	a, b := scyllastate.NewEventID(now), scyllastate.NewEventID(now.Add(time.Millisecond))
	if !a.Before(b) || b.Before(a) || a.Compare(a) != 0 {
		t.Fatalf("%s (%s) and %s (%s) out of order", a, a.Time(), b, b.Time())
	}
	lo, hi := scyllastate.MinEventID(now), scyllastate.MaxEventID(now)
	if !(scyllastate.EventID{}).Before(lo) || !(scyllastate.EventID{}).IsZero() {
		t.Fatalf("the zero ID is not before %s", lo)
	}
	// The bits after the time hold a clock sequence of 14 bits, one more
	// for each new ID: 2^15 IDs of one time take every value, and each
	// lies within the bounds (the database's order: signed bytes).
	for range 1 << 15 {
		id := scyllastate.NewEventID(now)
		if !lo.Before(id) || !id.Before(hi) {
			t.Fatalf("bounds of %s: %s and %s do not hold the ID %s", now, lo, hi, id)
		}
	}
}
