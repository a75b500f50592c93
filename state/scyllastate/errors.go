package scyllastate

import (
	"errors"
	"fmt"
)

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
	// ErrNoPinset is wrapped by the errors of New, with WithExistingPinset,
	// when the keyspace does not exist or has no scyllastate schema. It
	// wraps ErrSchema.
	ErrNoPinset = fmt.Errorf("%w: no pinset", ErrSchema)
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("scyllastate is closed")
	// ErrUndefinedCid is returned when adding a pin without a CID.
	ErrUndefinedCid = errors.New("pin has an undefined CID")
)

var (
	// ErrOutcomeUnknown is wrapped by the errors of Add, Rm, PinChange,
	// UnpinChange and Commit when a change was sent but not acknowledged
	// (a timeout: the database may have written it). The change may still
	// happen: the store keeps retrying it with the same timestamp until it
	// is known, then completes it; if the store stops first, another peer
	// completes it. Do not assume it failed.
	ErrOutcomeUnknown = errors.New("the outcome of the change is unknown: it may still happen")
	// ErrBacklog is returned, with nothing written, while the store holds
	// too many changes of unknown outcome to retry (the database does not
	// answer): retry later.
	ErrBacklog = errors.New("too many changes of unknown outcome waiting for the database")
)
