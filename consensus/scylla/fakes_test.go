package scylla

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// fakeStore is an in-memory change feed and pins table, for testing the
// feed logic without a database. Events are visible once added; rows
// follow last-writer-wins by write time, as CQL rows do.
type fakeStore struct {
	mu       sync.Mutex
	events   map[scyllastate.Partition][]scyllastate.Event
	rows     map[string]fakeRow
	ckpts    map[string]time.Time
	rolled   int
	readErrs int // fail the next reads
}

type fakeRow struct {
	pin     *api.Pin // nil: deleted
	ts      int64
	deleted bool
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		events: map[scyllastate.Partition][]scyllastate.Event{},
		rows:   map[string]fakeRow{},
		ckpts:  map[string]time.Time{},
	}
}

func partitionOf(e scyllastate.Event) scyllastate.Partition {
	ps := scyllastate.Partitions(e.Time(), e.Time())
	// The shard is the store's business; any stable choice works here.
	return ps[int(e.Cid.Bytes()[len(e.Cid.Bytes())-1])%len(ps)]
}

// addEvent makes an event visible (it may be "late": an ID time in the
// past).
func (s *fakeStore) addEvent(e scyllastate.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := partitionOf(e)
	s.events[p] = append(s.events[p], e)
	sort.Slice(s.events[p], func(i, j int) bool {
		return bytes.Compare(timeOrder(s.events[p][i].ID), timeOrder(s.events[p][j].ID)) < 0
	})
}

// timeOrder sorts time UUIDs by time, as CQL's timeuuid does.
func timeOrder(id gocql.UUID) []byte {
	t := id.Time().UnixNano()
	b := make([]byte, 8, 24)
	for i := 7; i >= 0; i-- {
		b[i] = byte(t)
		t >>= 8
	}
	return append(b, id[:]...)
}

// writeRow applies a row write with last-writer-wins.
func (s *fakeStore) writeRow(c api.Cid, pin *api.Pin, ts int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.rows[c.KeyString()]
	if ok && cur.ts > ts {
		return
	}
	if ok && cur.ts == ts && cur.deleted {
		return // a deletion wins a tie, as in CQL
	}
	s.rows[c.KeyString()] = fakeRow{pin: pin, ts: ts, deleted: pin == nil}
}

func (s *fakeStore) ReadPartition(ctx context.Context, p scyllastate.Partition, after, upTo gocql.UUID, fn func(scyllastate.Event) error) error {
	s.mu.Lock()
	if s.readErrs > 0 {
		s.readErrs--
		s.mu.Unlock()
		return context.DeadlineExceeded
	}
	var out []scyllastate.Event
	for _, e := range s.events[p] {
		if bytes.Compare(timeOrder(e.ID), timeOrder(after)) > 0 && bytes.Compare(timeOrder(e.ID), timeOrder(upTo)) <= 0 {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	for _, e := range out {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) ReadVersion(ctx context.Context, c api.Cid) (scyllastate.RowVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[c.KeyString()]
	if !ok || r.deleted {
		return scyllastate.RowVersion{}, nil
	}
	return scyllastate.RowVersion{Found: true, Pin: *r.pin, WriteTime: r.ts}, nil
}

func (s *fakeStore) RollForward(ctx context.Context, e scyllastate.Event) error {
	s.mu.Lock()
	s.rolled++
	s.mu.Unlock()
	if e.Op == scyllastate.OpUnpin {
		s.writeRow(e.Cid, nil, e.WriteTime)
	} else {
		s.writeRow(e.Cid, e.Pin, e.WriteTime)
	}
	return nil
}

func (s *fakeStore) Checkpoint(ctx context.Context, reader string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.ckpts[reader]
	return t, ok, nil
}

func (s *fakeStore) SaveCheckpoint(ctx context.Context, reader string, pos time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ckpts[reader] = pos
	return nil
}

// fakeTracker records the tracker calls.
type fakeTracker struct {
	mu      sync.Mutex
	tracked map[string]*api.Pin // nil: untracked
	tracks  map[string]int
	queue   int64
}

func newFakeTracker() *fakeTracker {
	return &fakeTracker{tracked: map[string]*api.Pin{}, tracks: map[string]int{}}
}

func (t *fakeTracker) Track(_ context.Context, pin api.Pin) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked[pin.Cid.KeyString()] = &pin
	t.tracks[pin.Cid.KeyString()]++
	return nil
}

func (t *fakeTracker) Untrack(_ context.Context, c api.Cid) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked[c.KeyString()] = nil
	return nil
}

func (t *fakeTracker) PinQueueSize(context.Context) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.queue, nil
}

// state returns whether a CID is tracked and, if so, with which pin.
func (t *fakeTracker) state(c api.Cid) (*api.Pin, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, seen := t.tracked[c.KeyString()]
	return p, seen
}

func (t *fakeTracker) trackCount(c api.Cid) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tracks[c.KeyString()]
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
