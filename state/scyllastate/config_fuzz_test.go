package scyllastate

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
)

// fieldRe finds the field an error names: scyllastate.<field>.
var fieldRe = regexp.MustCompile(`scyllastate\.([a-z_]+(\.[a-z_]+)?)`)

// jsonFields are the names of the section's fields, nested ones with
// their parent (tls.cert_file).
func jsonFields() map[string]bool {
	names := map[string]bool{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			names[prefix+name] = true
			ft := t.Field(i).Type
			if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				walk(prefix+name+".", ft.Elem())
			}
		}
	}
	walk("", reflect.TypeOf(jsonConfig{}))
	return names
}

// checkConfigError fails unless every error in err wraps ErrInvalidConfig
// and names the section, and those about a field name a real one.
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
		if !strings.Contains(msg, ConfigKey) {
			t.Fatalf("error does not name the %s section: %v", ConfigKey, e)
		}
		for _, m := range fieldRe.FindAllStringSubmatch(msg, -1) {
			if !known[m[1]] && !known[strings.Split(m[1], ".")[0]] {
				t.Fatalf("error names %q, which is not a field of the section: %v", m[1], e)
			}
		}
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
	known := jsonFields()
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
		// A valid section: the write deadline (which consensus.scylla's
		// feed_overlap must exceed) is computed at once, without overflow.
		start := time.Now()
		if d := cfg.WriteDeadline(); d < cfg.Timeout {
			t.Fatalf("write deadline %s is below the timeout %s (overflow?)", d, cfg.Timeout)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("WriteDeadline took %s", el)
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
