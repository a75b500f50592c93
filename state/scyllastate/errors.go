package scyllastate

import "errors"

var (
	// ErrConnect is wrapped by errors of New when no connection to the
	// database could be made.
	ErrConnect = errors.New("cannot connect to the CQL database")
	// ErrSchema is wrapped by errors about a missing or incompatible
	// keyspace, table or schema version.
	ErrSchema = errors.New("scyllastate schema")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("scyllastate is closed")
	// ErrUndefinedCid is returned when adding a pin without a CID.
	ErrUndefinedCid = errors.New("pin has an undefined CID")
)
