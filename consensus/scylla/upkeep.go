package scylla

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// upkeepStore is what the periodic work reads and writes of the store.
type upkeepStore interface {
	ReadVersion(ctx context.Context, c api.Cid) (scyllastate.RowVersion, error)
	ScanSlice(ctx context.Context, i, n int, fn func(scyllastate.SliceEntry) error) error
	Expired(ctx context.Context, from, to time.Time, fn func(scyllastate.ExpiryEntry) error) error
	Get(ctx context.Context, c api.Cid) (api.Pin, error)
	ForgetExpiry(ctx context.Context, e scyllastate.ExpiryEntry) error
}

// peerCalls is what the periodic work asks of the other components of
// this peer (through the cluster's RPC).
type peerCalls interface {
	// TrustedPeers returns the trusted peers of the peerset.
	TrustedPeers(ctx context.Context) ([]peer.ID, error)
	// PinLsCid tells how IPFS holds a CID (with the pin's max depth).
	PinLsCid(ctx context.Context, pin api.Pin) (api.IPFSPinStatus, error)
	// Unpin unpins through the cluster (for expired pins).
	Unpin(ctx context.Context, pin api.Pin) error
	// RecoverErrors asks the tracker to retry its failed operations
	// (RecoverAll: those stored in the database, at the pace of
	// pinning) and returns how many it retried.
	RecoverErrors(ctx context.Context) (int, error)
}

// repairMetrics is what the periodic work records (feedMetrics).
type repairMetrics interface {
	repaired(op scyllastate.Op)
}

// upkeepSettings are the settings of the periodic work.
type upkeepSettings struct {
	slices            int           // recover_slices
	repairInterval    time.Duration // every slice is repaired once per repair_interval
	readRate          int           // repair_read_rate: pins per second, all peers together
	recoverInterval   time.Duration // pin_recover_interval: the tracker's errors
	stateSyncInterval time.Duration // state_sync_interval: expired pins
	queueLimit        int           // pin_queue_limit
	overlap           time.Duration // feed_overlap: a row is written within it after its event
	retention         time.Duration // event_retention
	timeout           time.Duration // of one call
}

// upkeep runs the periodic work of a peer without scanning the whole
// shared pinset at once, replacing upstream's StateSync and
// RecoverAllLocal loops (the daemon disables those):
//
//   - expiry: every state_sync_interval, the expired pins are read from the
//     expiry index (not from a full scan) and unpinned by the peer
//     closest to each CID, as upstream's StateSync does; an entry whose
//     check fails is kept and tried again;
//   - recover: every pin_recover_interval, the failed operations of this
//     peer's tracker are retried (read from the database, where the
//     tracker wrapper keeps them, at the pace of pinning; one pass at a
//     time, beside the other work);
//   - repair (anti-entropy): one slice of the shared pinset every
//     repair_interval/recover_slices, so that the whole pinset is checked
//     once per repair_interval: a pin this peer should hold that IPFS does
//     not hold is tracked, a CID unpinned within event_retention (the
//     marker of its unpin) that IPFS still holds is untracked, each after
//     reading its row again and through the applier's claims. A change
//     the feed missed is thus corrected within repair_interval;
//   - deferred pins: the pins that found the tracker queue full (from the
//     feed or a repair) are tracked, newest first, as soon as it has room;
//   - full passes: a first start queues the whole pinset at the pace of
//     pinning (it waits while the tracker holds pin_queue_limit pins); a
//     feed that lost events (read more than event_retention late) gets a
//     full repair, which leaves the pins it cannot queue at once to the
//     deferred set;
//   - redo: every WriterTimeout/2, writers that died between the two
//     halves of a change are completed (see redo);
//   - census: the repairs count the pins of each slice they read; once
//     every slice is counted, their sum is upstream's ipfscluster_pins
//     gauge.
type upkeep struct {
	self  peer.ID
	cfg   upkeepSettings
	store upkeepStore
	apply *applier
	calls peerCalls
	rd    *redo // nil: no redo (tests)
	// firstStart: this peer never read the feed; its pinset is queued
	// by a paced full pass.
	firstStart bool
	// feedSwept, when set, is closed once the feed has read the changes
	// made just before this start; a first start's pass waits for it.
	feedSwept <-chan struct{}
	metrics   repairMetrics // noMetrics unless set

	slice      int
	lastExpiry time.Time
	// full receives the reason of a full repair to run.
	full chan string
	wg   sync.WaitGroup

	// recovering is set while a recover pass of the tracker's errors
	// runs.
	recovering atomic.Bool

	// census counts the pins of each slice of the pinset when a repair
	// reads it: their sum is upstream's ipfscluster_pins gauge, which a
	// full listing would otherwise be needed for.
	censusMu sync.Mutex
	census   map[int]int64
}

func newUpkeep(self peer.ID, cfg upkeepSettings, store upkeepStore, a *applier, calls peerCalls, rd *redo) *upkeep {
	return &upkeep{
		self:       self,
		cfg:        cfg,
		store:      store,
		apply:      a,
		calls:      calls,
		rd:         rd,
		lastExpiry: time.Now().Add(-cfg.retention),
		full:       make(chan string, 1),
		census:     map[int]int64{},
		metrics:    noMetrics{},
	}
}

// requestFull asks for a full repair; it does not block.
func (u *upkeep) requestFull(why string) {
	select {
	case u.full <- why:
	default:
	}
}

// takeFull returns the reason of a full repair asked for and not run.
func (u *upkeep) takeFull() (string, bool) {
	select {
	case why := <-u.full:
		return why, true
	default:
		return "", false
	}
}

// run does the periodic work until ctx ends; the goroutines it starts end
// before it returns.
func (u *upkeep) run(ctx context.Context) {
	defer u.wg.Wait()
	u.wg.Add(2)
	go func() { defer u.wg.Done(); u.drain(ctx) }()
	go func() { defer u.wg.Done(); u.repairLoop(ctx) }()
	expiry := time.NewTicker(u.cfg.stateSyncInterval)
	defer expiry.Stop()
	recoverT := time.NewTicker(u.cfg.recoverInterval)
	defer recoverT.Stop()
	redoT := time.NewTicker(scyllastate.WriterTimeout / 2)
	defer redoT.Stop()
	u.expire(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			u.expire(ctx)
		case <-recoverT.C:
			u.startRecoverErrors(ctx)
		case <-redoT.C:
			if u.rd == nil {
				continue
			}
			if err := u.rd.others(ctx); err != nil && ctx.Err() == nil {
				logger.Warnf("completing the writes of dead writers: %s", err)
			}
		}
	}
}

// drainEvery is how often the deferred pins are offered to the tracker
// when nothing new is deferred.
const drainEvery = 500 * time.Millisecond

// drain tracks the deferred pins as soon as the tracker has room, until
// ctx ends.
func (u *upkeep) drain(ctx context.Context) {
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	failures := 0
	for {
		_, err := u.apply.drainDeferred(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			if failures == 1 || failures%100 == 0 {
				logger.Warnf("tracking the deferred pins (%d waiting): %s", u.apply.deferred.len(), err)
			}
		case err == nil:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-u.apply.deferred.wake:
		case <-t.C:
		}
	}
}

// startRecoverErrors starts a recover pass of the tracker's errors,
// unless one still runs: a pass over many errors waits for the tracker
// queue and may outlast pin_recover_interval.
func (u *upkeep) startRecoverErrors(ctx context.Context) {
	if !u.recovering.CompareAndSwap(false, true) {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.recovering.Store(false)
		u.recoverErrors(ctx)
	}()
}

// recoverErrors asks the tracker to retry its failed operations. The
// tracker wrapper reads them from the database (this peer's rows of
// tracker_errors), streaming, and waits for room in the tracker queue:
// no pinset scan, and memory does not grow with the errors.
func (u *upkeep) recoverErrors(ctx context.Context) {
	start := time.Now()
	n, err := u.calls.RecoverErrors(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		logger.Warnf("recovering the tracker's errors (%d retried): %s", n, err)
	case n > 0:
		logger.Infof("recover: %d failed operations retried in %s", n, time.Since(start).Round(time.Second))
	}
}
