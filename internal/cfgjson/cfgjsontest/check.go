// Package cfgjsontest holds what the configuration tests of the sections
// share: the field names of a section and the check that an error names
// the section and a real field.
package cfgjsontest

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

// Fields returns the JSON names of the fields of the struct v, nested
// struct pointers with their parent ("tls.cert_file"), plus extra.
func Fields(v any, extra ...string) map[string]bool {
	names := map[string]bool{}
	for _, e := range extra {
		names[e] = true
	}
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
	walk("", reflect.TypeOf(v))
	return names
}

// Section describes what the errors of a configuration section must
// carry.
type Section struct {
	Sentinel error           // every error wraps it
	Names    []string        // one of them appears in every error
	Field    *regexp.Regexp  // its first group is a field an error names
	Known    map[string]bool // the fields (Fields)
}

// Check returns nil when every error in err (one, or a multierror) wraps
// the sentinel and names the section, and every field it names is a
// field of the section (or of a parent: "tls" for "tls.ca").
func (s Section) Check(err error) error {
	errs := []error{err}
	var merr *multierror.Error
	if errors.As(err, &merr) {
		errs = merr.Errors
	}
	for _, e := range errs {
		if !errors.Is(e, s.Sentinel) {
			return fmt.Errorf("error does not wrap %v: %v", s.Sentinel, e)
		}
		msg := e.Error()
		named := false
		for _, n := range s.Names {
			named = named || strings.Contains(msg, n)
		}
		if !named {
			return fmt.Errorf("error names none of %q: %v", s.Names, e)
		}
		for _, m := range s.Field.FindAllStringSubmatch(msg, -1) {
			if !s.Known[m[1]] && !s.Known[strings.Split(m[1], ".")[0]] {
				return fmt.Errorf("error names %q, which is not a field of the section: %v", m[1], e)
			}
		}
	}
	return nil
}

// Require fails t unless Check accepts err.
func (s Section) Require(t testing.TB, err error) {
	t.Helper()
	if e := s.Check(err); e != nil {
		t.Fatal(e)
	}
}

// Config is what RequireRoundTrip needs of a configuration.
type Config interface {
	ToJSON() ([]byte, error)
	LoadJSON(raw []byte) error
}

// RequireRoundTrip fails t unless the ToJSON of cfg, loaded into fresh (a
// new config of the same type), gives a config equal to cfg.
func RequireRoundTrip(t testing.TB, cfg, fresh Config) {
	t.Helper()
	out, err := cfg.ToJSON()
	if err != nil {
		t.Fatalf("ToJSON of a valid config: %v", err)
	}
	if err := fresh.LoadJSON(out); err != nil {
		t.Fatalf("LoadJSON of its own ToJSON: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(cfg, fresh) {
		t.Fatalf("ToJSON/LoadJSON changed the config:\nbefore %+v\nafter  %+v", cfg, fresh)
	}
}

// Validated is a configuration that LoadJSON fills and Validate checks.
type Validated interface {
	LoadJSON(raw []byte) error
	Validate() error
}

// LoadValid loads raw into cfg and validates it; an error from either is
// checked with Require. It tells whether cfg is loaded and valid.
func (s Section) LoadValid(t testing.TB, cfg Validated, raw []byte) bool {
	t.Helper()
	err := cfg.LoadJSON(raw)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		s.Require(t, err)
		return false
	}
	return true
}
