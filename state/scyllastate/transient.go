package scyllastate

import (
	"context"
	"errors"
	"net"

	"github.com/gocql/gocql"
)

// CQL error codes of a database that did not answer in time or could not
// reach enough replicas (native protocol spec, section 9): retrying may
// succeed.
var transientCodes = map[int]bool{
	0x0000: true, // server error
	0x1000: true, // unavailable
	0x1001: true, // overloaded
	0x1002: true, // is bootstrapping
	0x1100: true, // write timeout
	0x1200: true, // read timeout
	0x1300: true, // read failure
	0x1500: true, // write failure
	0x1700: true, // CAS write unknown
}

// Transient tells whether err comes from a database that does not answer
// now (timeouts, replicas unavailable or overloaded, no connection), so
// that retrying may succeed; credentials or TLS refused, an invalid
// configuration and other request errors (an incompatible schema, a
// syntax error) are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrTLS) || errors.Is(err, ErrInvalidConfig) {
		return false
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		return transientCodes[re.Code()]
	}
	var ne net.Error
	return errors.Is(err, ErrConnect) || errors.Is(err, gocql.ErrTimeoutNoResponse) ||
		errors.Is(err, gocql.ErrNoConnections) || errors.Is(err, gocql.ErrConnectionClosed) ||
		errors.Is(err, gocql.ErrSessionClosed) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne)
}
