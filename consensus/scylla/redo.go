package scylla

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// redoStore is what completing unfinished writes needs of the store.
type redoStore interface {
	Writers(ctx context.Context) ([]scyllastate.WriterInfo, error)
	Events(ctx context.Context, from, to time.Time, fn func(scyllastate.Event) error) error
	Reannounce(ctx context.Context, e scyllastate.Event) error
	MarkWriterDone(ctx context.Context, id string, safeBefore time.Time) error
}

// redo completes the writes of writers that died between the event and
// the row of a change: it announces each of their changes issued since
// their safe point again (Feed.Reannounce): the row, written with the
// change's own timestamp, then a new event with a fresh ID carrying the
// same change. Rows are last-writer-wins, so this never overwrites a
// newer change, and doing it twice is harmless. The fresh event matters:
// the dead writer's own event may have become visible late, behind every
// reader's sweep (a write still in flight when it died, a replica or a
// data center behind), and then no reader would ever apply it; every
// reader reads the fresh one. A reader compares its change, whose
// timestamp is older than its ID, with the row (see feed.trusted).
type redo struct {
	store   redoStore
	self    string
	overlap time.Duration
	// aliveWithin: a peer whose feed position is more recent than this
	// is taken for alive when choosing who completes a dead writer.
	aliveWithin time.Duration
	now         func() time.Time
}

func newRedo(store redoStore, self string, overlap, checkpointInterval time.Duration) *redo {
	aliveWithin := AliveWithin(&Config{FeedOverlap: overlap, CheckpointInterval: checkpointInterval})
	return &redo{store: store, self: self, overlap: overlap, aliveWithin: aliveWithin, now: time.Now}
}

// own completes this peer's writes left unfinished by its previous run
// (a crash or a kill), before it reports ready.
func (r *redo) own(ctx context.Context) error {
	ws, err := r.store.Writers(ctx)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w.ID == r.self && !w.Closed && !w.Heartbeat.IsZero() {
			logger.Infof("the previous run of this peer stopped without closing: completing its writes since %s",
				w.SafeBefore.Format(time.RFC3339))
			return r.complete(ctx, w)
		}
	}
	return nil
}

// others completes the writers that died, when this peer is the one to do
// it: the live peer with the smallest ID.
func (r *redo) others(ctx context.Context) error {
	ws, err := r.store.Writers(ctx)
	if err != nil {
		return err
	}
	now := r.now()
	var alive []string
	for _, w := range ws {
		if !w.Position.IsZero() && now.Sub(w.Position) < r.aliveWithin {
			alive = append(alive, w.ID)
		}
	}
	sort.Strings(alive)
	if len(alive) > 0 && alive[0] != r.self {
		return nil
	}
	for _, w := range ws {
		if w.ID != r.self && w.Stale(now) {
			logger.Warnf("writer %s stopped sending heartbeats at %s without closing: completing its writes since %s",
				w.ID, w.Heartbeat.Format(time.RFC3339), w.SafeBefore.Format(time.RFC3339))
			if err := r.complete(ctx, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// complete announces again the changes of writer w issued since its safe
// point, then records it as done.
func (r *redo) complete(ctx context.Context, w scyllastate.WriterInfo) error {
	now := time.Now()
	since := w.SafeBefore
	if since.IsZero() {
		since = w.Heartbeat.Add(-scyllastate.WriterTimeout)
	}
	var todo []scyllastate.Event
	err := r.store.Events(ctx, since.Add(-r.overlap), now, func(e scyllastate.Event) error {
		if e.Writer == w.ID && !e.Legacy && e.WriteTime >= since.UnixMicro() {
			todo = append(todo, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the changes of writer %s: %w", w.ID, err)
	}
	for _, e := range todo {
		if err := r.store.Reannounce(ctx, e); err != nil {
			return fmt.Errorf("completing the changes of writer %s: %w", w.ID, err)
		}
	}
	if err := r.store.MarkWriterDone(ctx, w.ID, now); err != nil {
		return err
	}
	logger.Infof("writer %s: %d changes since %s completed", w.ID, len(todo), since.Format(time.RFC3339))
	return nil
}
