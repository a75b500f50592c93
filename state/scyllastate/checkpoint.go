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
	d := f.db
	var pos time.Time
	err := d.session.Query(d.stmts.getCheckpoint, schemaComponent, reader).WithContext(ctx).Scan(&pos)
	if errors.Is(err, gocql.ErrNotFound) || (err == nil && pos.IsZero()) {
		return time.Time{}, false, nil
	}
	d.health.record(err)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the feed checkpoint of %s: %w", reader, err)
	}
	return pos, true, nil
}

// SaveCheckpoint records how far a reader has processed the feed. Pins
// are never touched.
func (f *Feed) SaveCheckpoint(ctx context.Context, reader string, pos time.Time) error {
	d := f.db
	err := d.session.Query(d.stmts.saveCheckpoint, pos, schemaComponent, reader).WithContext(ctx).Exec()
	d.health.record(err)
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
	d := f.db
	iter := d.session.Query(d.stmts.writers, schemaComponent).WithContext(ctx).Iter()
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
	d.health.record(err)
	if err != nil {
		return nil, fmt.Errorf("listing the feed readers and writers: %w", err)
	}
	return out, nil
}

// MarkWriterDone records that the writes of a dead writer issued before
// safeBefore are complete (another peer rolled them forward).
func (f *Feed) MarkWriterDone(ctx context.Context, id string, safeBefore time.Time) error {
	d := f.db
	ttl := int64(d.cfg.EventRetention / time.Second)
	err := d.session.Query(d.stmts.markDone, ttl, safeBefore, schemaComponent, id).WithContext(ctx).Exec()
	d.health.record(err)
	if err != nil {
		return fmt.Errorf("marking writer %s done: %w", id, err)
	}
	return nil
}
