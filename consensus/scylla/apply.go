package scylla

import (
	"context"
	"fmt"
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

// applyMetrics is what the applier records (feedMetrics).
type applyMetrics interface {
	applied(op scyllastate.Op)
	rolledForward()
}

// noMetrics records nothing: the metrics of an applier, a feed or an
// upkeep made without them (feedMetrics records them).
type noMetrics struct{}

func (noMetrics) applied(scyllastate.Op)  {}
func (noMetrics) rolledForward()          {}
func (noMetrics) pollError()              {}
func (noMetrics) caughtUp(time.Duration)  {}
func (noMetrics) repaired(scyllastate.Op) {}

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

// claimKey is a keyed 128-bit hash of a CID, the key of its claim: a
// claim does not keep its CID's string alive (some 60 bytes each, a
// million after a large import). Two CIDs share a key with probability
// about n²/2¹²⁹ for n claims (below 10⁻²⁶ for a million); the seeds are
// random in each process.
type claimKey [2]uint64

// claimKey is the claim key of the CID of key (its KeyString).
func (a *applier) claimKey(key string) claimKey {
	return claimKey{maphash.String(a.seed, key), maphash.String(a.claimSeed, key)}
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
	metrics applyMetrics
	// queueLimit: pins are not queued beyond it; see deferred.
	queueLimit int64
	// timeout bounds one database or tracker call of the applier's own
	// (the deferred pins').
	timeout time.Duration
	// retention is the store's event_retention: a deferred pin whose row
	// shows neither it nor its unpin after that is given up (the unpin's
	// marker is gone); 0 keeps it.
	retention time.Duration
	now       func() time.Time

	seed      maphash.Seed // of the locks and of claimKey
	claimSeed maphash.Seed // of claimKey
	locks     [stripes]sync.Mutex

	// deferred holds the pins not queued because the tracker queue was
	// full, until there is room (drainDeferred); at most
	// deferredLimit(queueLimit).
	deferred *deferredSet
	// overflow remembers the pins that found the deferred set full too,
	// for a recover pass.
	overflow overflow

	mu     sync.Mutex
	claims map[claimKey]claim
	// claimsPeak is the most claims held since claims was last made:
	// a Go map keeps the room of its peak, so forget makes a new one once
	// most of that room is empty.
	claimsPeak int

	// queueMu guards the estimate of the tracker's queue: queue, its
	// size read at queueAt and trusted for queueCheckEvery; queuedSince,
	// the pins queued since; pending, the pins given room and being
	// queued (see room).
	queueMu     sync.Mutex
	queue       int64
	queueAt     time.Time
	queuedSince int64
	pending     int64
}

// queueCheckEvery is how long a reading of the tracker's queue size is
// trusted, counting the pins queued since.
const queueCheckEvery = 100 * time.Millisecond

// queueFull tells whether the tracker holds queueLimit pins, counting
// those being queued (see room).
func (a *applier) queueFull(ctx context.Context) bool {
	return !a.room(ctx, false)
}

// room tells whether the tracker queue has room for one more pin. The
// size is read again when the last reading is old, or when it plus the
// pins queued since and being queued would reach the limit; a size that
// cannot be read counts as room. With take, a pin given room is counted
// as being queued until queued is called: the check and the count are
// one step, so that concurrent appliers (the feed, the repair, the
// deferred pins) cannot all see the last free place and queue past the
// limit together.
func (a *applier) room(ctx context.Context, take bool) bool {
	if a.queueLimit <= 0 {
		return true
	}
	a.queueMu.Lock()
	defer a.queueMu.Unlock()
	if time.Since(a.queueAt) >= queueCheckEvery || a.queue+a.queuedSince+a.pending >= a.queueLimit {
		qctx, cancel := context.WithTimeout(ctx, a.timeout)
		n, err := a.tracker.PinQueueSize(qctx)
		cancel()
		if err != nil {
			if take {
				a.pending++
			}
			return true
		}
		a.queue, a.queueAt, a.queuedSince = n, time.Now(), 0
	}
	if a.queue+a.queuedSince+a.pending >= a.queueLimit {
		return false
	}
	if take {
		a.pending++
	}
	return true
}

// queued ends the count of a pin given room by room(ctx, true), once
// the tracker was told (it is then counted as queued since the last
// reading, or in the next one).
func (a *applier) queued() {
	if a.queueLimit <= 0 {
		return
	}
	a.queueMu.Lock()
	a.pending--
	a.queuedSince++
	a.queueMu.Unlock()
}

// newApplier returns the applier of peer self, which tells tracker t and
// reads rows; m may be nil (nothing recorded).
func newApplier(self peer.ID, t pinTracker, rows rowReader, m applyMetrics, queueLimit int) *applier {
	if m == nil {
		m = noMetrics{}
	}
	return &applier{
		self:       self,
		tracker:    t,
		rows:       rows,
		metrics:    m,
		queueLimit: int64(queueLimit),
		timeout:    defaultCallTimeout,
		now:        time.Now,
		seed:       maphash.MakeSeed(),
		claimSeed:  maphash.MakeSeed(),
		deferred:   newDeferredSet(deferredLimit(queueLimit)),
		claims:     map[claimKey]claim{},
	}
}

// deferredLimit is the size of the deferred set for a tracker queue of
// queueLimit pins: 4 times as many, at least minDeferred (0: no limit,
// as the queue). About 150 bytes each: 6 MB for the default 10,000.
func deferredLimit(queueLimit int) int {
	if queueLimit <= 0 {
		return 0
	}
	return max(4*queueLimit, minDeferred)
}

// burstLimit is the most changes a first start's first read of the feed
// applies (0: no limit): what the tracker queue and the deferred set
// hold together. Beyond, the pins would be left to a recover pass anyway.
func burstLimit(queueLimit int) int64 {
	if queueLimit <= 0 {
		return 0
	}
	return int64(queueLimit + deferredLimit(queueLimit))
}

// minDeferred is the smallest bound of the deferred set.
const minDeferred = 10000

// defaultCallTimeout bounds one call to the database or to another
// component of this peer made by the consensus's own loops.
const defaultCallTimeout = time.Minute

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
	cl, ok := a.claims[a.claimKey(key)]
	a.mu.Unlock()
	switch {
	case ok && !orderedAfter(ts, pin != nil, cl.ts, cl.present):
		return older, nil
	case !ok && !trusted:
		return unsure, nil
	}
	return applied, a.tell(ctx, key, c, ts, pin)
}

// tell records the claim and calls the tracker; the CID's lock is held.
// A pin that finds the tracker queue full is deferred instead: it is
// tracked once there is room (drainDeferred), unless a newer change of its
// CID comes first.
func (a *applier) tell(ctx context.Context, key string, c api.Cid, ts int64, pin *api.Pin) error {
	a.mu.Lock()
	a.claims[a.claimKey(key)] = claim{ts: ts, present: pin != nil}
	a.claimsPeak = max(a.claimsPeak, len(a.claims))
	a.mu.Unlock()
	if pin == nil {
		a.deferred.remove(key)
		a.metrics.applied(scyllastate.OpUnpin)
		return a.tracker.Untrack(ctx, c)
	}
	a.metrics.applied(scyllastate.OpPin)
	if pin.IsRemotePin(a.self) {
		a.deferred.remove(key)
		return a.tracker.Track(ctx, *pin)
	}
	if !a.room(ctx, true) {
		if !a.deferred.add(key, c, ts) {
			a.noteOverflow()
		}
		return nil
	}
	defer a.queued()
	a.deferred.remove(key)
	return a.tracker.Track(ctx, *pin)
}

// settle applies an event that cannot be trusted on its own (too old to
// compare with the claims, or without payload) by comparing it with the
// pin row: the row when it is as new as the event (its pin, or the unpin
// its marker remembers), else the event, after rolling the row forward to
// it (writes are last-writer-wins, so this never overwrites a newer
// change and completes a change whose writer died between its event and
// its row).
func (a *applier) settle(ctx context.Context, e scyllastate.Event) error {
	rv, err := a.rows.ReadVersion(ctx, e.Cid)
	if err != nil {
		return err
	}
	if e.Legacy {
		if rv.Found {
			return a.force(ctx, e.Cid, rv.WriteTime, &rv.Pin)
		}
		return a.force(ctx, e.Cid, rv.UnpinTime, nil)
	}
	switch {
	case rv.Found && rv.WriteTime >= e.WriteTime:
		return a.force(ctx, e.Cid, rv.WriteTime, &rv.Pin)
	case !rv.Found && rv.UnpinTime >= e.WriteTime:
		return a.force(ctx, e.Cid, rv.UnpinTime, nil)
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
	return a.force(ctx, e.Cid, max(e.WriteTime, rv.UnpinTime), nil)
}

// force applies a settled value unless a newer change was applied
// meanwhile.
func (a *applier) force(ctx context.Context, c api.Cid, ts int64, pin *api.Pin) error {
	key := c.KeyString()
	defer a.lock(key)()
	a.mu.Lock()
	cl, ok := a.claims[a.claimKey(key)]
	a.mu.Unlock()
	if ok && !orderedAfter(ts, pin != nil, cl.ts, cl.present) {
		return nil
	}
	return a.tell(ctx, key, c, ts, pin)
}

// orderedAfter tells whether a change (ts, present: a pin, else an unpin)
// is ordered after another: by write timestamp, and on a tie (two
// writers that read the same value changed it at once) the unpin wins,
// as the deletion does in the pin row.
func orderedAfter(ts int64, present bool, otherTS int64, otherPresent bool) bool {
	return ts > otherTS || (ts == otherTS && !present && otherPresent)
}

// forget drops the claims of changes written before t: no event still to
// be read can be older than them and need them. After a burst of changes
// (an import read by the feed holds a claim per pin) the map is made anew
// once it holds a quarter of its peak, so that its room is freed too.
func (a *applier) forget(t time.Time) {
	limit := t.UnixMicro()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, cl := range a.claims {
		if cl.ts < limit {
			delete(a.claims, k)
		}
	}
	if a.claimsPeak >= claimsShrinkMin && len(a.claims) <= a.claimsPeak/4 {
		// Not maps.Clone: a clone keeps the room of its source.
		fresh := make(map[claimKey]claim, len(a.claims))
		for k, cl := range a.claims {
			fresh[k] = cl
		}
		a.claims, a.claimsPeak = fresh, len(fresh)
	}
}

// claimsShrinkMin is the peak below which the claims' map is kept as it
// is: its room is small.
const claimsShrinkMin = 4096

// repair tells the tracker a value a repair read from the pin row just
// before (ts its write timestamp; pin nil for an unpin marker): the pin
// when this peer should hold it and IPFS does not, the unpin when IPFS
// still holds the CID. It goes through the claims, so that a change the
// applier has seen newer than the row is never undone, and the claim
// records the value told. Unlike force, it tells the tracker again a
// change it was told already (the repair found that IPFS does not agree:
// the operation failed, or is under way and the tracker ignores the
// repeat), except a pin waiting in the deferred set. It reports whether
// the tracker was told (or the pin deferred).
func (a *applier) repair(ctx context.Context, c api.Cid, ts int64, pin *api.Pin) (bool, error) {
	key := c.KeyString()
	defer a.lock(key)()
	a.mu.Lock()
	cl, ok := a.claims[a.claimKey(key)]
	a.mu.Unlock()
	if ok && orderedAfter(cl.ts, cl.present, ts, pin != nil) {
		return false, nil
	}
	if pin != nil && a.deferred.has(key, ts) {
		return false, nil
	}
	return true, a.tell(ctx, key, c, ts, pin)
}

// noteOverflow notes a pin that found the deferred set full (see overflow).
func (a *applier) noteOverflow() {
	if a.overflow.note(a.now()) {
		logger.Infof("the tracker queue (pin_queue_limit %d) and the deferred set (%d pins) are full: further pins are left to a recover pass over the pinset, once written", a.queueLimit, a.deferred.limit)
	}
}

// deferPin adds a pin a repair found missing to the deferred set, without
// calling the tracker, unless the applier has seen a newer change of it;
// when the set is full, it is left to a recover pass (overflow).
func (a *applier) deferPin(c api.Cid, ts int64) {
	key := c.KeyString()
	defer a.lock(key)()
	a.mu.Lock()
	cl, ok := a.claims[a.claimKey(key)]
	a.mu.Unlock()
	if ok && (ts < cl.ts || (ts == cl.ts && !cl.present)) {
		return
	}
	if !a.deferred.add(key, c, ts) {
		a.noteOverflow()
	}
}

// drainDeferred tracks the deferred pins, newest first, while the
// tracker queue has room. Each pin's row is read again first (see
// trackDeferred). It returns the number of entries settled and stops at
// the first database error (the entry is tried again later).
func (a *applier) drainDeferred(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		if a.deferred.len() == 0 || a.queueFull(ctx) {
			return n, nil
		}
		it, ok := a.deferred.pop(a.now())
		if !ok {
			return n, nil
		}
		done, err := a.trackDeferred(ctx, it)
		if err != nil || !done {
			a.deferred.retry(it, a.now())
		}
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, ctx.Err()
}

// trackDeferred settles one deferred pin against its row, read again now:
// the row's pin is tracked when it holds the deferred change or a newer
// pin; when the row says the CID was unpinned after the change, the
// unpin is applied (the pin is not tracked); when the row does not show
// the change yet (a replica behind, a writer that died between event and
// row), the pin stays deferred (done false). The claim records what the
// tracker was told.
func (a *applier) trackDeferred(ctx context.Context, it deferredItem) (done bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	rv, err := a.rows.ReadVersion(rctx, it.cid)
	cancel()
	if err != nil {
		return false, fmt.Errorf("reading the row of deferred pin %s: %w", it.cid, err)
	}
	defer a.lock(it.key)()
	if !a.deferred.current(it.key, it.seq) {
		return true, nil // a newer change of the CID was applied meanwhile
	}
	a.mu.Lock()
	cl, ok := a.claims[a.claimKey(it.key)]
	a.mu.Unlock()
	switch {
	case rv.Found && rv.WriteTime >= it.ts:
		if ok && cl.ts > rv.WriteTime {
			a.deferred.remove(it.key)
			return true, nil
		}
		return true, a.tell(ctx, it.key, it.cid, rv.WriteTime, &rv.Pin)
	case !rv.Found && rv.UnpinTime >= it.ts:
		if ok && cl.ts > rv.UnpinTime {
			a.deferred.remove(it.key)
			return true, nil
		}
		return true, a.tell(ctx, it.key, it.cid, rv.UnpinTime, nil)
	case a.retention > 0 && !rv.Found && rv.UnpinTime == 0 && time.UnixMicro(it.ts).Before(a.now().Add(-a.retention)):
		// Older than event_retention and neither pinned nor remembered
		// as unpinned: its unpin's marker expired.
		logger.Warnf("deferred pin %s: its row shows neither the pin nor its unpin after event_retention: given up", it.cid)
		a.deferred.remove(it.key)
		return true, nil
	}
	return false, nil
}
