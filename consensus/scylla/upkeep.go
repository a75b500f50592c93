package scylla

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"go.opencensus.io/stats"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// upkeep runs the periodic work of a peer without scanning the whole
// shared pinset, replacing upstream's StateSync and RecoverAllLocal loops
// (the daemon disables those):
//
//   - expiry: every state_sync_interval, the expired pins are read from the
//     expiry index (not from a full scan) and unpinned by the peer
//     closest to each CID, as upstream's StateSync does;
//   - recover: every pin_recover_interval, the pins in error in this peer's
//     tracker are recovered, and 1/recover_slices of the shared pinset is
//     checked against IPFS; a first start, or pins the feed could not
//     queue, get a full pass. Every pass queues pins at the pace of
//     pinning: it waits while the tracker holds pin_queue_limit pins;
//   - redo: every WriterTimeout/2, writers that died between the two
//     halves of a change are completed (see redo);
//   - census: the recover passes count the pins of each slice they read;
//     once every slice is counted, their sum is upstream's
//     ipfscluster_pins gauge (a full listing sets it too).
type upkeep struct {
	c  *Consensus
	rd *redo

	slice      int
	lastExpiry time.Time
	passing    atomic.Bool // a full recover pass runs
	wg         sync.WaitGroup

	// census counts the pins of each slice of the pinset when a recover
	// pass reads it: their sum is upstream's ipfscluster_pins gauge,
	// which a full listing would otherwise be needed for.
	censusMu sync.Mutex
	census   map[int]int64
}

func newUpkeep(c *Consensus, rd *redo) *upkeep {
	return &upkeep{c: c, rd: rd, lastExpiry: time.Now().Add(-c.stateCfg.EventRetention), census: map[int]int64{}}
}

func (u *upkeep) run(ctx context.Context) {
	defer u.wg.Wait()
	if u.c.FirstStart() {
		u.fullPass(ctx, "first start of this peer")
	}
	expiry := time.NewTicker(u.c.cfg.StateSyncInterval)
	defer expiry.Stop()
	recoverT := time.NewTicker(u.c.cfg.PinRecoverInterval)
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
			u.recover(ctx)
		case <-redoT.C:
			if err := u.rd.others(ctx); err != nil && ctx.Err() == nil {
				logger.Warnf("completing the writes of dead writers: %s", err)
			}
		}
	}
}

// expire unpins the expired pins this peer is closest to.
func (u *upkeep) expire(ctx context.Context) {
	now := time.Now()
	peers, err := u.c.Peers(ctx)
	if err != nil {
		logger.Warnf("expiry check: listing peers: %s", err)
		return
	}
	var trusted []peer.ID
	for _, p := range peers {
		if u.c.IsTrustedPeer(ctx, p) {
			trusted = append(trusted, p)
		}
	}
	n := 0
	err = u.c.store.Expired(ctx, u.lastExpiry, now, func(e scyllastate.ExpiryEntry) error {
		if !closest(u.c.host.ID(), trusted, e.Cid) {
			return nil
		}
		pin, err := u.c.store.Get(ctx, e.Cid)
		switch {
		case err == nil && !pin.ExpireAt.IsZero() && !pin.ExpireAt.After(now):
			logger.Infof("unpinning %s: pin expired at %s", e.Cid, pin.ExpireAt)
			if err := u.c.rpcClient.CallContext(ctx, "", "Cluster", "Unpin", pin, &api.Pin{}); err != nil {
				logger.Errorf("unpinning expired %s: %s", e.Cid, err)
				return nil
			}
			n++
		case err == nil && pin.ExpireAt.After(now):
			return nil // pinned again with a later expiry: its own entry is due later
		}
		// Unpinned, expired and handled, or pinned again without expiry.
		return u.c.store.ForgetExpiry(ctx, e)
	})
	if err != nil {
		logger.Warnf("expiry check: %s", err)
		return
	}
	// Entries of the last interval stay due until handled: keep one
	// interval of overlap.
	u.lastExpiry = now.Add(-u.c.cfg.StateSyncInterval)
	if n > 0 {
		logger.Infof("expiry check: %d expired pins unpinned", n)
	}
}

// closest tells whether self is, among the trusted peers, the closest to
// a CID (XOR of SHA-256 hashes), so that one peer acts on it.
func closest(self peer.ID, trusted []peer.ID, c api.Cid) bool {
	target := sha256.Sum256(c.Bytes())
	dist := func(p peer.ID) [32]byte {
		h := sha256.Sum256([]byte(p))
		for i := range h {
			h[i] ^= target[i]
		}
		return h
	}
	mine := dist(self)
	for _, p := range trusted {
		if p == self {
			continue
		}
		d := dist(p)
		if bytes.Compare(d[:], mine[:]) < 0 {
			return false
		}
	}
	return true
}

// recover recovers the tracker's errors and checks one slice of the
// pinset, or everything when the feed had to leave pins to recover.
func (u *upkeep) recover(ctx context.Context) {
	u.recoverErrors(ctx)
	if n := u.c.apply.takeDeferred(); n > 0 {
		u.fullPass(ctx, fmt.Sprintf("%d pins of the feed found the tracker queue full", n))
		return
	}
	if u.passing.Load() {
		return
	}
	slice := u.slice
	u.slice = (u.slice + 1) % u.c.cfg.RecoverSlices
	queued, err := u.pass(ctx, []int{slice}, true)
	if err != nil && ctx.Err() == nil {
		logger.Warnf("recover of pinset slice %d/%d: %s", slice, u.c.cfg.RecoverSlices, err)
		return
	}
	if queued > 0 {
		logger.Infof("recover of pinset slice %d/%d: %d pins queued", slice, u.c.cfg.RecoverSlices, queued)
	}
}

// recoverErrors asks the tracker to retry its operations in error. Those
// are in the tracker's memory: no pinset scan.
func (u *upkeep) recoverErrors(ctx context.Context) {
	in := make(chan api.TrackerStatus, 1)
	in <- api.TrackerStatusPinError | api.TrackerStatusUnpinError
	close(in)
	out := make(chan api.PinInfo, 1024)
	errCh := make(chan error, 1)
	go func() {
		errCh <- u.c.rpcClient.Stream(ctx, "", "PinTracker", "StatusAll", in, out)
	}()
	var failed []api.Cid
	for pi := range out {
		failed = append(failed, pi.Cid)
	}
	if err := <-errCh; err != nil {
		logger.Warnf("listing the tracker's errors: %s", err)
		return
	}
	for _, c := range failed {
		var pi api.PinInfo
		if err := u.c.rpcClient.CallContext(ctx, "", "PinTracker", "Recover", c, &pi); err != nil {
			logger.Warnf("recovering %s: %s", c, err)
		}
	}
}

// fullPass queues every pin of this peer, in the background.
func (u *upkeep) fullPass(ctx context.Context, why string) {
	if !u.passing.CompareAndSwap(false, true) {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.passing.Store(false)
		slices := make([]int, u.c.cfg.RecoverSlices)
		for i := range slices {
			slices[i] = i
		}
		start := time.Now()
		logger.Infof("recover pass over the whole pinset (%s): pins are queued at the pace of pinning", why)
		queued, err := u.pass(ctx, slices, !u.c.FirstStart())
		if err != nil && ctx.Err() == nil {
			logger.Warnf("recover pass over the whole pinset: %s (%d pins queued)", err, queued)
			return
		}
		logger.Infof("recover pass over the whole pinset done in %s: %d pins queued", time.Since(start).Round(time.Second), queued)
	}()
}

// pass reads the given slices of the pinset and queues the pins this
// peer should hold and does not (checked with IPFS when checkIPFS),
// waiting while the tracker queue is full.
func (u *upkeep) pass(ctx context.Context, slices []int, checkIPFS bool) (int64, error) {
	self := u.c.host.ID()
	var queued atomic.Int64
	for _, i := range slices {
		var seen atomic.Int64
		err := u.c.store.ListSlice(ctx, i, u.c.cfg.RecoverSlices, func(pin api.Pin) error {
			seen.Add(1)
			if pin.Type == api.MetaType || pin.IsRemotePin(self) {
				return nil
			}
			if checkIPFS {
				var st api.IPFSPinStatus
				err := u.c.rpcClient.CallContext(ctx, "", "IPFSConnector", "PinLsCid", pin, &st)
				if err == nil && st.IsPinned(pin.MaxDepth) {
					return nil
				}
			}
			if err := u.waitForRoom(ctx); err != nil {
				return err
			}
			if err := u.c.rpcClient.CallContext(ctx, "", "PinTracker", "Track", pin, &struct{}{}); err != nil {
				logger.Warnf("queueing %s: %s", pin.Cid, err)
				return nil
			}
			queued.Add(1)
			return nil
		})
		if err != nil {
			return queued.Load(), err
		}
		u.count(i, seen.Load())
	}
	return queued.Load(), nil
}

// count records the pins of a slice and, once every slice is counted,
// the pinset's size.
func (u *upkeep) count(slice int, n int64) {
	u.censusMu.Lock()
	defer u.censusMu.Unlock()
	u.census[slice] = n
	if len(u.census) < u.c.cfg.RecoverSlices {
		return
	}
	var total int64
	for _, c := range u.census {
		total += c
	}
	stats.Record(u.c.ctx, observations.Pins.M(total))
}

// waitForRoom waits while the tracker holds pin_queue_limit pins.
func (u *upkeep) waitForRoom(ctx context.Context) error {
	limit := int64(u.c.cfg.PinQueueLimit)
	if limit <= 0 {
		return nil
	}
	for {
		var n int64
		if err := u.c.rpcClient.CallContext(ctx, "", "PinTracker", "PinQueueSize", struct{}{}, &n); err != nil || n < limit {
			return ctx.Err()
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
