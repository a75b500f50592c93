package scylla

import (
	"regexp"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cfgjson/cfgjsontest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// section is what every error of the consensus.scylla section carries.
func section() cfgjsontest.Section {
	return cfgjsontest.Section{
		Sentinel: ErrInvalidConfig,
		Names:    []string{"consensus.scylla", "the scylla section"},
		Field:    regexp.MustCompile(`consensus\.scylla\.([a-z_]+)`),
		Known:    cfgjsontest.Fields(jsonConfig{}, "state_sync_interval"), // the cluster's, checked here
	}
}

// FuzzConfigLoadJSON: any "scylla" consensus section. LoadJSON and
// Validate never panic; their errors wrap ErrInvalidConfig and name the
// section (and a real field); a section they accept survives
// ToJSON/LoadJSON unchanged, is checked against the store's settings
// without panic, and the multiples of feed_overlap and
// checkpoint_interval that the feed computes do not overflow.
// Seeds: testdata/fuzz/FuzzConfigLoadJSON (sections written by `init`).
func FuzzConfigLoadJSON(f *testing.F) {
	def := &Config{}
	_ = def.Default()
	raw, err := def.ToJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"trusted_peers":["` + testPeer + `","nope"],"poll_interval":"x","ready_timeout":5}`))
	f.Add([]byte(`{"feed_overlap":"2562047h","checkpoint_interval":"2562047h"}`))
	f.Add([]byte(`{"trusted_peers":"*"}`))
	f.Add([]byte(`[]`))
	sec := section()
	store := &scyllastate.Config{}
	_ = store.Default()
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg := &Config{}
		if !sec.LoadValid(t, cfg, raw) {
			return
		}
		if err := cfg.checkAgainst(store); err != nil {
			sec.Require(t, err)
		}
		w := cfg.FeedOverlap
		if 4*w <= 0 || w+3*cfg.CheckpointInterval+time.Minute <= 0 {
			t.Fatalf("feed_overlap %s / checkpoint_interval %s overflow the feed's arithmetic", w, cfg.CheckpointInterval)
		}
		cfgjsontest.RequireRoundTrip(t, cfg, &Config{})
	})
}
