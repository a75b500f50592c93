package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gocql/gocql"
)

// codeErr is a CQL error with a code, as the driver returns them.
type codeErr int

func (c codeErr) Code() int       { return int(c) }
func (c codeErr) Message() string { return fmt.Sprintf("code %#x", int(c)) }
func (c codeErr) Error() string   { return c.Message() }

var _ gocql.RequestError = codeErr(0)

func TestTransientTellsWhatRetryingMayFix(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("reading schema version: %w", codeErr(0x1000)), true}, // unavailable
		{fmt.Errorf("%w: reading schema version: %w", ErrSchema, codeErr(0x1200)), true},
		{fmt.Errorf("listing writers: %w", gocql.ErrTimeoutNoResponse), true},
		{fmt.Errorf("x: %w", gocql.ErrNoConnections), true},
		{fmt.Errorf("%w: no host answered", ErrConnect), true},
		{context.DeadlineExceeded, true},
		{codeErr(0x2000), false}, // syntax error
		{codeErr(0x2400), false}, // already exists
		{fmt.Errorf("%w: keyspace has schema version 9", ErrSchema), false},
		{fmt.Errorf("%w: bad password", ErrAuth), false},
		{fmt.Errorf("%w: %w", ErrTLS, gocql.ErrNoConnections), false},
		{fmt.Errorf("%w: hosts", ErrInvalidConfig), false},
		{errors.New("decoding a pin"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
