package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
)

// Checkpoint returns the feed position saved for a reader (a peer ID), and
// false when there is none.
func (f *Feed) Checkpoint(ctx context.Context, reader string) (time.Time, bool, error) {
	s := f.s
	var pos time.Time
	err := s.session.Query(s.stmts.getCheckpoint, schemaComponent, reader).WithContext(ctx).Scan(&pos)
	if errors.Is(err, gocql.ErrNotFound) || (err == nil && pos.IsZero()) {
		return time.Time{}, false, nil
	}
	s.health.record(err)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the feed checkpoint of %s: %w", reader, err)
	}
	return pos, true, nil
}

// SaveCheckpoint records how far a reader has processed the feed. Pins
// are never touched.
func (f *Feed) SaveCheckpoint(ctx context.Context, reader string, pos time.Time) error {
	s := f.s
	err := s.session.Query(s.stmts.saveCheckpoint, pos, schemaComponent, reader).WithContext(ctx).Exec()
	s.health.record(err)
	if err != nil {
		return fmt.Errorf("saving the feed checkpoint of %s: %w", reader, err)
	}
	return nil
}

// WriterInfo is what the keyspace records about a reader or writer of the
// change feed.
type WriterInfo struct {
	// ID is the peer ID of a peer, or the name of another writer (a
	// state import).
	ID string
	// Position is the feed checkpoint of a reader (zero for writers
	// that do not read).
	Position time.Time
	// Heartbeat is when the writer last recorded it was alive (zero for
	// stores that never wrote).
	Heartbeat time.Time
	// SafeBefore: every write of the writer issued before it is
	// complete.
	SafeBefore time.Time
	// Closed is true when the writer stopped cleanly, or when another
	// peer completed its writes after it died.
	Closed bool
	// DataCenter is the writer's local_dc, when configured.
	DataCenter string
}

// Stale tells whether a writer died with writes possibly unfinished: it
// did not close and its heartbeat is older than WriterTimeout.
func (w WriterInfo) Stale(now time.Time) bool {
	return !w.Heartbeat.IsZero() && !w.Closed && now.Sub(w.Heartbeat) > WriterTimeout
}

// Writers lists the readers and writers recorded in the keyspace.
func (f *Feed) Writers(ctx context.Context) ([]WriterInfo, error) {
	s := f.s
	iter := s.session.Query(s.stmts.writers, schemaComponent).WithContext(ctx).Iter()
	var out []WriterInfo
	var (
		w      WriterInfo
		closed *bool
		dc     *string
	)
	for iter.Scan(&w.ID, &w.Position, &w.Heartbeat, &w.SafeBefore, &closed, &dc) {
		w.Closed = closed != nil && *closed
		w.DataCenter = ""
		if dc != nil {
			w.DataCenter = *dc
		}
		out = append(out, w)
		w, closed, dc = WriterInfo{}, nil, nil
	}
	err := iter.Close()
	s.health.record(err)
	if err != nil {
		return nil, fmt.Errorf("listing the feed readers and writers: %w", err)
	}
	return out, nil
}

// MarkWriterDone records that the writes of a dead writer issued before
// safeBefore are complete (another peer rolled them forward).
func (f *Feed) MarkWriterDone(ctx context.Context, id string, safeBefore time.Time) error {
	s := f.s
	ttl := int64(s.cfg.EventRetention / time.Second)
	err := s.session.Query(s.stmts.markDone, ttl, safeBefore, schemaComponent, id).WithContext(ctx).Exec()
	s.health.record(err)
	if err != nil {
		return fmt.Errorf("marking writer %s done: %w", id, err)
	}
	return nil
}

// copyLegacyMembers copies the readers and writers that builds of schema
// versions 1 to 3 recorded in peer_checkpoints into feed_members, when
// that table is still empty: their feed positions, and the heartbeats
// that tell redo which writers died with changes unfinished. It reads
// the whole of peer_checkpoints (one row per peer), once per keyspace.
func (s *ScyllaState) copyLegacyMembers(ctx context.Context) error {
	existing, err := s.tableNames(ctx)
	if err != nil || !existing[checkpointsTable] {
		return err
	}
	var member string
	err = s.session.Query(s.stmts.anyMember, schemaComponent).WithContext(ctx).Consistency(s.meta).Scan(&member)
	if err == nil {
		return nil // copied before
	}
	if !errors.Is(err, gocql.ErrNotFound) {
		return fmt.Errorf("%w: reading %s: %w", ErrSchema, membersTable, err)
	}
	ttl := int64(s.cfg.EventRetention / time.Second)
	iter := s.session.Query(s.stmts.legacyMembers).WithContext(ctx).Consistency(s.meta).Iter()
	var (
		id                       string
		pos, updated, beat, safe time.Time
		closed                   *bool
		dc                       *string
		n                        int
	)
	for iter.Scan(&id, &pos, &updated, &beat, &safe, &closed, &dc) {
		if err := s.session.Query(s.stmts.copyMember, schemaComponent, id, nullTime(pos), nullTime(updated), nullTime(beat), nullTime(safe), closed, dc, ttl).
			WithContext(ctx).Consistency(s.meta).Exec(); err != nil {
			_ = iter.Close()
			return fmt.Errorf("%w: copying feed member %s into %s: %w", ErrSchema, id, membersTable, err)
		}
		n++
		closed, dc = nil, nil
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrSchema, checkpointsTable, err)
	}
	if n > 0 {
		logger.Infof("copied %d feed readers and writers from %s.%s into %s", n, s.cfg.Keyspace, checkpointsTable, membersTable)
	}
	return nil
}

// nullTime leaves a zero time unset.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return gocql.UnsetValue
	}
	return t
}
