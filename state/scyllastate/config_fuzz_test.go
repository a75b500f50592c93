package scyllastate

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cfgjson/cfgjsontest"
)

// section is what every error of the scyllastate section carries.
func section() cfgjsontest.Section {
	return cfgjsontest.Section{
		Sentinel: ErrInvalidConfig,
		Names:    []string{ConfigKey},
		Field:    regexp.MustCompile(`scyllastate\.([a-z_]+(\.[a-z_]+)?)`),
		Known:    cfgjsontest.Fields(jsonConfig{}),
	}
}

// FuzzConfigLoadJSON: any "scyllastate" section. LoadJSON and Validate
// never panic; their errors wrap ErrInvalidConfig and name the section
// (and a real field); a section they accept has a finite write deadline,
// survives ToJSON/LoadJSON unchanged, and its display hides the password.
// Seeds: testdata/fuzz/FuzzConfigLoadJSON (sections written by `init`).
func FuzzConfigLoadJSON(f *testing.F) {
	full, err := fullConfig().ToJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"port":"9042","hosts":"db","tls":{"enabled":"yes"},"timeout":"soon"}`))
	f.Add([]byte(`{"retry_policy":{"num_retries":2000000000,"min_retry_delay":"1ns","max_retry_delay":"2562047h"}}`))
	f.Add([]byte(`{"timeout":"2562047h","retry_policy":{"num_retries":3}}`))
	f.Add([]byte(`{"replication_strategy":"NetworkTopologyStrategy","dc_replication":{"dc'1":3}}`))
	sec := section()
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg := &Config{}
		if !sec.LoadValid(t, cfg, raw) {
			return
		}
		// A valid section: the write deadline (which consensus.scylla's
		// feed_overlap must exceed) is computed at once, without overflow.
		start := time.Now()
		if d := cfg.WriteDeadline(); d < cfg.Timeout {
			t.Fatalf("write deadline %s is below the timeout %s (overflow?)", d, cfg.Timeout)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("WriteDeadline took %s", el)
		}
		cfgjsontest.RequireRoundTrip(t, cfg, &Config{})
		disp, err := cfg.ToDisplayJSON()
		if err != nil {
			t.Fatalf("ToDisplayJSON: %v", err)
		}
		var shown struct{ Password string }
		if err := json.Unmarshal(disp, &shown); err != nil {
			t.Fatalf("ToDisplayJSON is not JSON: %v", err)
		}
		if cfg.Password != "" && shown.Password == cfg.Password {
			t.Fatalf("ToDisplayJSON shows the password")
		}
	})
}
