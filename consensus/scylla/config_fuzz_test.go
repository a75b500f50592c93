package scylla

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// fieldRe finds the field an error names: consensus.scylla.<field>.
var fieldRe = regexp.MustCompile(`consensus\.scylla\.([a-z_]+)`)

func jsonFields() map[string]bool {
	names := map[string]bool{"state_sync_interval": true} // the cluster's, checked here
	t := reflect.TypeOf(jsonConfig{})
	for i := 0; i < t.NumField(); i++ {
		names[strings.Split(t.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	return names
}

func checkConfigError(t *testing.T, err error, known map[string]bool) {
	t.Helper()
	errs := []error{err}
	var merr *multierror.Error
	if errors.As(err, &merr) {
		errs = merr.Errors
	}
	for _, e := range errs {
		if !errors.Is(e, ErrInvalidConfig) {
			t.Fatalf("error does not wrap ErrInvalidConfig: %v", e)
		}
		msg := e.Error()
		if !strings.Contains(msg, "consensus.scylla") && !strings.Contains(msg, "the scylla section") && !strings.Contains(msg, "parsing the scylla section") {
			t.Fatalf("error does not name the consensus.scylla section: %v", e)
		}
		for _, m := range fieldRe.FindAllStringSubmatch(msg, -1) {
			if !known[m[1]] {
				t.Fatalf("error names %q, which is not a field of the section: %v", m[1], e)
			}
		}
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
	known := jsonFields()
	store := &scyllastate.Config{}
	_ = store.Default()
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg := &Config{}
		if err := cfg.LoadJSON(raw); err != nil {
			checkConfigError(t, err, known)
			return
		}
		if err := cfg.Validate(); err != nil {
			checkConfigError(t, err, known)
			return
		}
		if err := cfg.checkAgainst(store); err != nil {
			checkConfigError(t, err, known)
		}
		w := cfg.FeedOverlap
		if 4*w <= 0 || w+3*cfg.CheckpointInterval+time.Minute <= 0 {
			t.Fatalf("feed_overlap %s / checkpoint_interval %s overflow the feed's arithmetic", w, cfg.CheckpointInterval)
		}
		out, err := cfg.ToJSON()
		if err != nil {
			t.Fatalf("ToJSON of a valid config: %v", err)
		}
		again := &Config{}
		if err := again.LoadJSON(out); err != nil {
			t.Fatalf("LoadJSON of its own ToJSON: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("ToJSON/LoadJSON changed the config:\nbefore %+v\nafter  %+v", cfg, again)
		}
	})
}
