package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

// Get returns the pin of a CID, or state.ErrNotFound itself (not wrapped:
// upstream's Cluster compares it with ==). Concurrent calls are read
// together, with one query for several CIDs.
func (s *ScyllaState) Get(ctx context.Context, c api.Cid) (p api.Pin, err error) {
	defer func(start time.Time) {
		if errors.Is(err, state.ErrNotFound) {
			s.metrics.observe("get", start, nil)
			return
		}
		s.metrics.observe("get", start, err)
	}(time.Now())
	if !c.Defined() {
		// As dsstate: an undefined CID (the adder asks) is not pinned.
		return api.Pin{}, state.ErrNotFound
	}
	row, found, err := s.getter.get(ctx, c.Bytes())
	if err != nil {
		return api.Pin{}, fmt.Errorf("reading pin %s: %w", c, err)
	}
	if !found {
		return api.Pin{}, state.ErrNotFound
	}
	return row.decode()
}

// Has tells whether a CID is pinned in the state.
func (s *ScyllaState) Has(ctx context.Context, c api.Cid) (ok bool, err error) {
	defer func(start time.Time) { s.metrics.observe("has", start, err) }(time.Now())
	if !c.Defined() {
		return false, nil
	}
	_, found, err := s.getter.get(ctx, c.Bytes())
	if err != nil {
		return false, fmt.Errorf("checking pin %s: %w", c, err)
	}
	return found, nil
}

// RowVersion is a pin as stored, with the write timestamp of its row.
type RowVersion struct {
	// Found is false when the CID is not pinned.
	Found bool
	// Pin is the stored pin when Found.
	Pin api.Pin
	// WriteTime is the write timestamp of the pin (microseconds) when
	// Found.
	WriteTime int64
	// UnpinTime is the write timestamp of the last unpin of the CID that
	// the row still remembers (for event_retention), 0 for none. It is
	// meaningful when !Found.
	UnpinTime int64
}

// ReadVersion reads the pin of a CID with its write timestamp, for
// readers of the change feed that must compare a change with the row.
func (s *ScyllaState) ReadVersion(ctx context.Context, c api.Cid) (RowVersion, error) {
	row, err := scanRow(s.session.Query(s.stmts.getPinVerify, c.Bytes()).WithContext(ctx).Scan)
	if errors.Is(err, gocql.ErrNotFound) {
		s.health.record(nil)
		return RowVersion{}, nil
	}
	s.health.record(err)
	if err != nil {
		return RowVersion{}, fmt.Errorf("reading pin %s: %w", c, err)
	}
	s.writer.observe(row.observed())
	if !row.present() {
		return RowVersion{UnpinTime: row.unpinnedAt}, nil
	}
	p, err := row.decode()
	if err != nil {
		return RowVersion{}, err
	}
	return RowVersion{Found: true, Pin: p, WriteTime: row.writeTime, UnpinTime: row.unpinnedAt}, nil
}
