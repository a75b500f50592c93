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

const (
	// getFlushers is the number of reads a store runs at once for Get;
	// calls that arrive meanwhile are read together in the next one.
	getFlushers = 2
	// maxGetGroup bounds the CIDs of one read.
	maxGetGroup = 32
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

// scanRow reads the pin columns and the version columns of one row.
func scanRow(scan func(...any) error) (pinRow, error) {
	var (
		row            pinRow
		wt, unpinnedAt *int64
	)
	err := scan(&row.cid, &row.pin, &row.meta, &row.legacyMode, &row.legacyUserAllocs, &row.legacyTsNs, &row.legacyExpireAtNs, &wt, &unpinnedAt)
	if wt != nil {
		row.writeTime = *wt
	}
	if unpinnedAt != nil {
		row.unpinnedAt = *unpinnedAt
	}
	return row, err
}

// getter reads pins for Get and Has, several CIDs per query when calls
// come together.
type getter struct {
	s      *ScyllaState
	groups *grouper[*getItem]
}

type getItem struct {
	ctx   context.Context
	cid   []byte
	row   pinRow
	found bool
	err   error
	done  chan struct{}
}

func newGetter(s *ScyllaState) *getter {
	g := &getter{s: s}
	g.groups = newGrouper(getFlushers, maxGetGroup, g.read)
	return g
}

func (g *getter) get(ctx context.Context, cid []byte) (pinRow, bool, error) {
	it := &getItem{ctx: ctx, cid: cid, done: make(chan struct{})}
	if !g.groups.submit(it) {
		return pinRow{}, false, ErrClosed
	}
	select {
	case <-it.done:
		return it.row, it.found, it.err
	case <-ctx.Done():
		return pinRow{}, false, ctx.Err()
	}
}

// read answers a group of gets with one query. Items whose caller gave up
// are left out.
func (g *getter) read(items []*getItem) {
	defer func() {
		for _, it := range items {
			close(it.done)
		}
	}()
	byKey := map[string]*getItem{}
	var keys [][]byte
	var ctx context.Context
	for _, it := range items {
		if it.ctx.Err() != nil {
			it.err = it.ctx.Err()
			continue
		}
		if prev, dup := byKey[string(it.cid)]; dup {
			// The same CID twice in a group: answer both from one row.
			defer func(it, prev *getItem) { it.row, it.found, it.err = prev.row, prev.found, prev.err }(it, prev)
			continue
		}
		byKey[string(it.cid)] = it
		keys = append(keys, it.cid)
		if ctx == nil {
			ctx = it.ctx
		}
	}
	if len(keys) == 0 {
		return
	}
	// A group is bounded by the driver's timeout; it does not end with
	// the first caller's context.
	iter := g.s.session.Query(g.s.stmts.getPins, keys).WithContext(context.WithoutCancel(ctx)).Iter()
	scanner := iter.Scanner()
	var err error
	for scanner.Next() {
		row, serr := scanRow(scanner.Scan)
		if serr != nil {
			err = serr
			break
		}
		// A change that follows this read is stamped after what it
		// read (hybrid logical clock), whatever the clocks.
		g.s.writer.observe(row.observed())
		if it := byKey[string(row.cid)]; it != nil && row.present() {
			it.row, it.found = row, true
		}
	}
	if serr := scanner.Err(); err == nil {
		err = serr
	}
	g.s.health.record(err)
	if err != nil {
		for _, it := range byKey {
			it.err = err
		}
	}
}

func (g *getter) close() { g.groups.close() }

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
