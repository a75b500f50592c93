package scyllastate

import "errors"

var (
	// ErrConnect is wrapped by errors of New when no connection to the
	// database could be made.
	ErrConnect = errors.New("cannot connect to the CQL database")
	// ErrAuth is wrapped by errors of New when the database refuses the
	// credentials. Retrying cannot fix it.
	ErrAuth = errors.New("the CQL database refused the credentials")
	// ErrTLS is wrapped by errors of New when the TLS connection fails
	// (an untrusted or expired certificate, a server without TLS).
	// Retrying cannot fix it.
	ErrTLS = errors.New("TLS connection to the CQL database failed")
	// ErrSchema is wrapped by errors about a missing or incompatible
	// keyspace, table or schema version.
	ErrSchema = errors.New("scyllastate schema")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("scyllastate is closed")
	// ErrUndefinedCid is returned when adding a pin without a CID.
	ErrUndefinedCid = errors.New("pin has an undefined CID")
)
