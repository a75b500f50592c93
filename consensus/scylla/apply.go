package scylla

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// pinTracker is what the consensus asks of this peer's pin tracker.
type pinTracker interface {
	Track(ctx context.Context, pin api.Pin) error
	Untrack(ctx context.Context, c api.Cid) error
	// PinQueueSize is the number of pins waiting in the tracker.
	PinQueueSize(ctx context.Context) (int64, error)
}

// rowReader is what the applier reads and writes of the store to settle
// events it cannot apply on their own word.
type rowReader interface {
	ReadVersion(ctx context.Context, c api.Cid) (scyllastate.RowVersion, error)
	RollForward(ctx context.Context, e scyllastate.Event) error
}

// claim is the last change of a CID told to the tracker.
type claim struct {
	ts      int64 // write timestamp of the change (microseconds)
	present bool
}

// stripes is the number of locks that serialize the tracker calls of
// one CID.
const stripes = 1024

// applier tells the tracker about changes in last-writer-wins order. A
// change is applied only if it is newer (by write timestamp) than the
// last one applied for its CID; the check, the record and the tracker
// call happen under one lock per CID, so that two deliveries of the same
// change (the writer's own call and the feed) or of two changes never
// interleave: each CID gets one Track per change, in timestamp order.
//
// Claims are kept for forgetAfter; a change older than that (by write
// timestamp) for a CID without a claim may be older than a change already
// applied and forgotten, so it is settled against the pin row instead
// (settle).
type applier struct {
	self    peer.ID
	tracker pinTracker
	rows    rowReader
	metrics *feedMetrics
	// queueLimit: pins are not queued beyond it; see deferred.
	queueLimit int64

	seed  maphash.Seed
	locks [stripes]sync.Mutex

	mu     sync.Mutex
	claims map[string]claim
	// deferred counts pins not queued because the tracker queue was
	// full; a recover pass queues them later.
	deferred int64
	// queue caches the tracker's queue size for queueCheckEvery.
	queue   int64
	queueAt time.Time
	// queuedSince counts the pins queued since queue was read.
	queuedSince int64
}

// queueCheckEvery is how long a reading of the tracker's queue size is
// trusted, counting the pins queued since.
const queueCheckEvery = 100 * time.Millisecond

// queueFull tells whether the tracker holds queueLimit pins. The size is
// read again when the last reading is old, or when it plus the pins
// queued since would reach the limit.
func (a *applier) queueFull(ctx context.Context) bool {
	if a.queueLimit <= 0 {
		return false
	}
	a.mu.Lock()
	estimate := a.queue + a.queuedSince
	fresh := time.Since(a.queueAt) < queueCheckEvery && estimate < a.queueLimit
	a.mu.Unlock()
	if fresh {
		return false
	}
	n, err := a.tracker.PinQueueSize(ctx)
	if err != nil {
		return false
	}
	a.mu.Lock()
	a.queue, a.queueAt, a.queuedSince = n, time.Now(), 0
	a.mu.Unlock()
	return n >= a.queueLimit
}

func newApplier(self peer.ID, t pinTracker, rows rowReader, m *feedMetrics, queueLimit int) *applier {
	return &applier{
		self:       self,
		tracker:    t,
		rows:       rows,
		metrics:    m,
		queueLimit: int64(queueLimit),
		seed:       maphash.MakeSeed(),
		claims:     map[string]claim{},
	}
}

func (a *applier) lock(key string) func() {
	l := &a.locks[maphash.String(a.seed, key)%stripes]
	l.Lock()
	return l.Unlock
}

// outcome tells what apply did with a change.
type outcome int

const (
	applied outcome = iota // the tracker was told
	older                  // a newer or the same change was applied already
	unsure                 // no claim and too old to trust: settle it
)

// apply tells the tracker about a change unless a newer one (or the same)
// was applied. An untrusted change (see feed.trusted) for a CID without a
// claim returns unsure, and nothing is done: settle it.
func (a *applier) apply(ctx context.Context, c api.Cid, ts int64, pin *api.Pin, trusted bool) (outcome, error) {
	key := c.KeyString()
	defer a.lock(key)()
	a.mu.Lock()
	cl, ok := a.claims[key]
	a.mu.Unlock()
	switch {
	case ok && ts <= cl.ts:
		return older, nil
	case !ok && !trusted:
		return unsure, nil
	}
	return applied, a.tell(ctx, key, c, ts, pin)
}

// tell records the claim and calls the tracker; the CID's lock is held.
func (a *applier) tell(ctx context.Context, key string, c api.Cid, ts int64, pin *api.Pin) error {
	a.mu.Lock()
	a.claims[key] = claim{ts: ts, present: pin != nil}
	a.mu.Unlock()
	if pin == nil {
		a.metrics.applied(scyllastate.OpUnpin)
		return a.tracker.Untrack(ctx, c)
	}
	a.metrics.applied(scyllastate.OpPin)
	if pin.IsRemotePin(a.self) {
		return a.tracker.Track(ctx, *pin)
	}
	if a.queueFull(ctx) {
		a.mu.Lock()
		a.deferred++
		a.mu.Unlock()
		return nil
	}
	a.mu.Lock()
	a.queuedSince++
	a.mu.Unlock()
	return a.tracker.Track(ctx, *pin)
}

// settle applies an event that cannot be trusted on its own (too old to
// compare with the claims, or without payload) by comparing it with the
// pin row: the row when it is as new as the event, else the event, after
// rolling the row forward to it (writes are last-writer-wins, so this
// never overwrites a newer change and completes a change whose writer
// died between its event and its row).
func (a *applier) settle(ctx context.Context, e scyllastate.Event) error {
	rv, err := a.rows.ReadVersion(ctx, e.Cid)
	if err != nil {
		return err
	}
	if e.Legacy {
		if rv.Found {
			return a.force(ctx, e.Cid, rv.WriteTime, &rv.Pin)
		}
		return a.force(ctx, e.Cid, 0, nil)
	}
	if rv.Found && rv.WriteTime >= e.WriteTime {
		return a.force(ctx, e.Cid, rv.WriteTime, &rv.Pin)
	}
	// The row is older than the event (or gone): the event's change is
	// the newest known. Make the row say so.
	if err := a.rows.RollForward(ctx, e); err != nil {
		return err
	}
	a.metrics.rolledForward()
	if e.Op == scyllastate.OpUnpin {
		return a.force(ctx, e.Cid, e.WriteTime, nil)
	}
	// A pin rolled forward onto an absent row stays absent if a newer
	// deletion exists: read it back.
	rv, err = a.rows.ReadVersion(ctx, e.Cid)
	if err != nil {
		return err
	}
	if rv.Found {
		return a.force(ctx, e.Cid, rv.WriteTime, &rv.Pin)
	}
	return a.force(ctx, e.Cid, e.WriteTime, nil)
}

// force applies a settled value unless a newer change was applied
// meanwhile.
func (a *applier) force(ctx context.Context, c api.Cid, ts int64, pin *api.Pin) error {
	key := c.KeyString()
	defer a.lock(key)()
	a.mu.Lock()
	cl, ok := a.claims[key]
	a.mu.Unlock()
	if ok && (ts < cl.ts || (ts == cl.ts && cl.present == (pin != nil))) {
		return nil
	}
	return a.tell(ctx, key, c, ts, pin)
}

// forget drops the claims of changes written before t: no event still to
// be read can be older than them and need them.
func (a *applier) forget(t time.Time) {
	limit := t.UnixMicro()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, cl := range a.claims {
		if cl.ts < limit {
			delete(a.claims, k)
		}
	}
}

// takeDeferred returns and resets the number of deferred pins.
func (a *applier) takeDeferred() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.deferred
	a.deferred = 0
	return n
}
