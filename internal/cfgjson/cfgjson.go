// Package cfgjson holds what the configuration sections of this module
// share to report every mistake of a section at once.
package cfgjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// UnmarshalFields decodes a JSON object into dst one field at a time, so
// that every field of a wrong JSON type is reported, not only the first.
func UnmarshalFields(raw []byte, dst any) []error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return []error{err}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		one, err := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if err == nil {
			err = json.Unmarshal(one, dst)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Kind names the JSON that a Go type takes, for error messages.
func Kind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	default:
		return "an object"
	}
}

// ListErrors formats several configuration errors one per line; it is a
// go-multierror ErrorFormat.
func ListErrors(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = "  - " + err.Error()
	}
	return fmt.Sprintf("%d configuration errors:\n%s", len(errs), strings.Join(lines, "\n"))
}

// Load decodes a configuration section into dst field by field and
// returns nil, or every mistake at once (formatted by ListErrors): one
// error per field that does not decode, built by invalid(field, format,
// args...) (naming the JSON kind, never the literal, which could be a
// password), and then the errors of check, which reads the values that
// did decode (durations or names that do not parse). Errors about the
// whole section (not an object, malformed JSON) name section and wrap
// errInvalid. Without decoding errors check is not called: the caller
// applies dst itself.
func Load(raw []byte, dst any, section string, errInvalid error, invalid func(field, format string, args ...any) error, check func() error) error {
	var merr *multierror.Error
	for _, err := range UnmarshalFields(raw, dst) {
		var e *json.UnmarshalTypeError
		switch {
		case errors.As(err, &e) && e.Field != "":
			kind, _, _ := strings.Cut(e.Value, " ")
			err = invalid(e.Field, "got a JSON %s, want %s", kind, Kind(e.Type))
		case errors.As(err, &e):
			err = fmt.Errorf("%w: the %s section must be a JSON object, not a JSON %s", errInvalid, section, e.Value)
		default:
			err = fmt.Errorf("%w: error unmarshaling the %s section: %w", errInvalid, section, err)
		}
		merr = multierror.Append(merr, err)
	}
	if merr == nil {
		return nil
	}
	merr = multierror.Append(merr, check())
	merr.ErrorFormat = ListErrors
	return merr
}
