package scylla

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	peer "github.com/libp2p/go-libp2p/core/peer"

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
	queries  int // ReadPartitions and ActivePartitions calls (per bucket)
	read     int // events read (each time it is read)

	// gate, when set, holds the partition reads up to a time before
	// gateBefore until it is closed; gated is told of each held read.
	gate       chan struct{}
	gateBefore time.Time
	gated      chan struct{}

	unindexed map[scyllastate.Partition]bool // left out of ActivePartitions

	expiry    []scyllastate.ExpiryEntry
	forgotten []scyllastate.ExpiryEntry
	getErrs   int // fail the next Gets
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

		unindexed: map[scyllastate.Partition]bool{},
	}
}

// fakePartitions is the fake feed's partitions per bucket.
const fakePartitions = 8

func partitionOf(e scyllastate.Event) scyllastate.Partition {
	// The shard is the store's business; any stable choice works here.
	b := e.Cid.Bytes()
	return scyllastate.Partition{Bucket: bucketOf(e.Time()), Shard: int8(int(b[len(b)-1]) % fakePartitions)}
}

func (s *fakeStore) Partitions(ctx context.Context, from, to time.Time) ([]scyllastate.Partition, error) {
	var ps []scyllastate.Partition
	for b := bucketOf(from); b <= bucketOf(to); b++ {
		for shard := range fakePartitions {
			ps = append(ps, scyllastate.Partition{Bucket: b, Shard: int8(shard)})
		}
	}
	return ps, nil
}

// ActivePartitions is the activity index: the partitions holding events,
// less those hidden with hideActivity (an index write that failed).
func (s *fakeStore) ActivePartitions(ctx context.Context, from, to time.Time) ([]scyllastate.Partition, error) {
	all, _ := s.Partitions(ctx, from, to)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErrs > 0 { // the database fails the index's reads too
		s.readErrs--
		return nil, context.DeadlineExceeded
	}
	s.queries += int(bucketOf(to) - bucketOf(from) + 1)
	var out []scyllastate.Partition
	for _, p := range all {
		if len(s.events[p]) > 0 && !s.unindexed[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

// hideActivity leaves the partition of an event out of the activity
// index, as when its writer failed to record it.
func (s *fakeStore) hideActivity(e scyllastate.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unindexed[partitionOf(e)] = true
}

// ReadPartitions reads the partitions one after the other, as one query
// would (one read error fails the whole group).
func (s *fakeStore) ReadPartitions(ctx context.Context, parts []scyllastate.Partition, after func(scyllastate.Partition) scyllastate.EventID, upTo scyllastate.EventID, fn func(scyllastate.Partition, scyllastate.Event) error) error {
	s.mu.Lock()
	s.queries++
	s.mu.Unlock()
	for _, p := range parts {
		if err := s.ReadPartition(ctx, p, after(p), upTo, func(e scyllastate.Event) error { return fn(p, e) }); err != nil {
			return err
		}
	}
	return nil
}

// addEvent makes an event visible (it may be "late": an ID time in the
// past).
func (s *fakeStore) addEvent(e scyllastate.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := partitionOf(e)
	s.events[p] = append(s.events[p], e)
	sort.Slice(s.events[p], func(i, j int) bool {
		return s.events[p][i].ID.Before(s.events[p][j].ID)
	})
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

func (s *fakeStore) ReadPartition(ctx context.Context, p scyllastate.Partition, after, upTo scyllastate.EventID, fn func(scyllastate.Event) error) error {
	s.mu.Lock()
	if gate := s.gate; gate != nil && upTo.Time().Before(s.gateBefore) {
		gated := s.gated
		s.mu.Unlock()
		select {
		case gated <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	if s.readErrs > 0 {
		s.readErrs--
		s.mu.Unlock()
		return context.DeadlineExceeded
	}
	var out []scyllastate.Event
	for _, e := range s.events[p] {
		if after.Before(e.ID) && !upTo.Before(e.ID) {
			out = append(out, e)
		}
	}
	s.read += len(out)
	s.mu.Unlock()
	for _, e := range out {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// failReads makes the next n partition reads fail (n < 0: all of them
// until failReads(0)).
func (s *fakeStore) failReads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		n = 1 << 30
	}
	s.readErrs = n
}

func (s *fakeStore) ReadVersion(ctx context.Context, c api.Cid) (scyllastate.RowVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[c.KeyString()]
	if !ok {
		return scyllastate.RowVersion{}, nil
	}
	if r.deleted {
		return scyllastate.RowVersion{UnpinTime: r.ts}, nil
	}
	return scyllastate.RowVersion{Found: true, Pin: *r.pin, WriteTime: r.ts}, nil
}

// sliceOf is the slice (of n) of a CID in the fake's token ring.
func sliceOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// ScanSlice calls fn for the pins and unpin markers of slice i of n.
func (s *fakeStore) ScanSlice(ctx context.Context, i, n int, fn func(scyllastate.SliceEntry) error) error {
	s.mu.Lock()
	var out []scyllastate.SliceEntry
	for k, r := range s.rows {
		if sliceOf(k, n) != i {
			continue
		}
		c, err := api.CastCid([]byte(k))
		if err != nil {
			s.mu.Unlock()
			return err
		}
		e := scyllastate.SliceEntry{Cid: c, WriteTime: r.ts}
		if !r.deleted {
			p := *r.pin
			e.Pin = &p
		}
		out = append(out, e)
	}
	s.mu.Unlock()
	for _, e := range out {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) Expired(ctx context.Context, from, to time.Time, fn func(scyllastate.ExpiryEntry) error) error {
	s.mu.Lock()
	var due []scyllastate.ExpiryEntry
	for _, e := range s.expiry {
		if !e.ExpireAt.Before(from) && !e.ExpireAt.After(to) {
			due = append(due, e)
		}
	}
	s.mu.Unlock()
	for _, e := range due {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) Get(ctx context.Context, c api.Cid) (api.Pin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErrs > 0 {
		s.getErrs--
		return api.Pin{}, errors.New("read timeout")
	}
	r, ok := s.rows[c.KeyString()]
	if !ok || r.deleted {
		return api.Pin{}, state.ErrNotFound
	}
	return *r.pin, nil
}

func (s *fakeStore) ForgetExpiry(ctx context.Context, e scyllastate.ExpiryEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgotten = append(s.forgotten, e)
	kept := s.expiry[:0]
	for _, x := range s.expiry {
		if !(x.Cid.Equals(e.Cid) && x.ExpireAt.Equal(e.ExpireAt)) {
			kept = append(kept, x)
		}
	}
	s.expiry = kept
	return nil
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
	mu       sync.Mutex
	tracked  map[string]*api.Pin // nil: untracked
	tracks   map[string]int
	untracks map[string]int
	order    []string // CIDs in Track order
	queue    int64
	// countQueue: every Track adds one pin to the queue.
	countQueue bool
	// onQueueSize, when set, is called (without the lock) by every
	// PinQueueSize before it answers.
	onQueueSize func()
	// onTrack, when set, is called (without the lock) by every Track
	// before the pin is queued.
	onTrack func()
}

func newFakeTracker() *fakeTracker {
	return &fakeTracker{tracked: map[string]*api.Pin{}, tracks: map[string]int{}, untracks: map[string]int{}}
}

func (t *fakeTracker) Track(_ context.Context, pin api.Pin) error {
	t.mu.Lock()
	hook := t.onTrack
	t.mu.Unlock()
	if hook != nil {
		hook()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked[pin.Cid.KeyString()] = &pin
	t.tracks[pin.Cid.KeyString()]++
	t.order = append(t.order, pin.Cid.KeyString())
	if t.countQueue {
		t.queue++
	}
	return nil
}

func (t *fakeTracker) Untrack(_ context.Context, c api.Cid) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked[c.KeyString()] = nil
	t.untracks[c.KeyString()]++
	return nil
}

func (t *fakeTracker) PinQueueSize(context.Context) (int64, error) {
	t.mu.Lock()
	hook := t.onQueueSize
	t.mu.Unlock()
	if hook != nil {
		hook()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.queue, nil
}

func (t *fakeTracker) setQueue(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queue = n
}

func (t *fakeTracker) untrackCount(c api.Cid) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.untracks[c.KeyString()]
}

func (t *fakeTracker) trackOrder() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.order...)
}

// fakeCalls answers the upkeep's calls: IPFS holds the CIDs in pinned (in
// the mode asked about), the peerset is self.
type fakeCalls struct {
	mu       sync.Mutex
	self     peer.ID
	pinned   map[string]bool
	unpinned []api.Cid // Unpin calls
	unpinErr error
	lsErr    error // PinLsCid fails
}

func newFakeCalls(self peer.ID) *fakeCalls {
	return &fakeCalls{self: self, pinned: map[string]bool{}}
}

func (f *fakeCalls) pin(c api.Cid) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pinned[c.KeyString()] = true
}

func (f *fakeCalls) TrustedPeers(context.Context) ([]peer.ID, error) {
	return []peer.ID{f.self}, nil
}

func (f *fakeCalls) PinLsCid(_ context.Context, pin api.Pin) (api.IPFSPinStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.lsErr != nil:
		return api.IPFSPinStatusError, f.lsErr
	case !f.pinned[pin.Cid.KeyString()]:
		return api.IPFSPinStatusUnpinned, nil
	case pin.MaxDepth == 0:
		return api.IPFSPinStatusDirect, nil
	default:
		return api.IPFSPinStatusRecursive, nil
	}
}

func (f *fakeCalls) Unpin(_ context.Context, pin api.Pin) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unpinErr != nil {
		return f.unpinErr
	}
	f.unpinned = append(f.unpinned, pin.Cid)
	return nil
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
