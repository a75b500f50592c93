package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

var (
	_ state.State         = (*ScyllaState)(nil)
	_ state.BatchingState = (*BatchingState)(nil)
)

// Add stores a pin, replacing any pin with the same CID.
func (s *ScyllaState) Add(ctx context.Context, p api.Pin) (err error) {
	defer func(start time.Time) { s.metrics.observe("add", start, err) }(time.Now())
	row, err := encodePin(p)
	if err != nil {
		return err
	}
	return s.write(ctx, row)
}

// write stores a pin row and its change-feed event.
func (s *ScyllaState) write(ctx context.Context, row pinRow) error {
	return s.change(ctx, row, OpPin)
}

// Rm removes a pin. Removing a missing pin is not an error.
func (s *ScyllaState) Rm(ctx context.Context, c api.Cid) (err error) {
	defer func(start time.Time) { s.metrics.observe("rm", start, err) }(time.Now())
	return s.remove(ctx, c.Bytes())
}

// remove deletes a pin row and records its change-feed event.
func (s *ScyllaState) remove(ctx context.Context, cid []byte) error {
	return s.change(ctx, pinRow{cid: cid}, OpUnpin)
}

// Get returns the pin of a CID, or state.ErrNotFound itself (not wrapped:
// upstream's Cluster compares it with ==).
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
	row := pinRow{cid: c.Bytes()}
	err = s.session.Query(s.stmts.get, row.cid).WithContext(ctx).
		Scan(&row.pin, &row.mode, &row.userAllocs, &row.tsNs, &row.expireAtNs)
	if errors.Is(err, gocql.ErrNotFound) {
		return api.Pin{}, state.ErrNotFound
	}
	if err != nil {
		return api.Pin{}, fmt.Errorf("reading pin %s: %w", c, err)
	}
	return row.decode()
}

// Has tells whether a CID is pinned in the state.
func (s *ScyllaState) Has(ctx context.Context, c api.Cid) (ok bool, err error) {
	defer func(start time.Time) { s.metrics.observe("has", start, err) }(time.Now())
	if !c.Defined() {
		return false, nil
	}
	var cid []byte
	err = s.session.Query(s.stmts.has, c.Bytes()).WithContext(ctx).Scan(&cid)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking pin %s: %w", c, err)
	}
	return true, nil
}

// Migrate is a no-op: the store checks its schema version at New, and the
// serialized format it reads (Unmarshal) is upstream's current one.
func (s *ScyllaState) Migrate(ctx context.Context, r io.Reader) error {
	return nil
}
