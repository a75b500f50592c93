package scyllastate

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// Pins with an expiry date have an entry in pin_expiry, partitioned by
// hour, so that the expired ones are found without scanning the pinset.
// Entries are written with the pin row and may outlive it (the pin
// unpinned, or pinned again with another expiry): readers check the pin
// before acting, and forget entries once handled.
//
// An entry is filed under the time it is due (dueAt): the pin's expiry,
// or the time of the write when that is later. The running peers read
// the index from their last check (less one state_sync_interval, at
// least feed_overlap) to now, never further back: an entry filed under
// a past expiry (an import or a migration of a pin already expired, a
// row written again from the backlog or rolled forward long after its
// change, a writer whose clock lags) would be read by no running peer,
// only by the next peer to start. Filed under the time of its write
// (the later of the writer's clock and its hybrid logical clock), it is
// read by the next check of every running peer: a row is written within
// feed_overlap of the time its statement is built, clock skew included.
// The reader checks the pin (Get) and unpins it through the cluster, as
// for any entry; ExpiryEntry.ExpireAt is thus when the entry is due, the
// pin's own expiry is in the pin.

// ExpiryEntry is one entry of the expiry index.
type ExpiryEntry struct {
	Cid      api.Cid
	ExpireAt time.Time
}

// dueAt is the time (ns) under which the expiry index files a pin that
// expires at exp (ns), written at the writer's time now with write
// timestamp ts (µs): the latest of the three. An expiry still ahead is
// kept as it is.
func dueAt(exp, ts int64, now time.Time) int64 {
	return max(exp, now.UnixNano(), ts*int64(time.Microsecond))
}

// expiryStmt is the statement that writes the expiry index entry of a
// pin write expiring at exp (ns), with the write's timestamp. The entry
// lives event_retention past the time it is due.
func (wr *writer) expiryStmt(w *pendingWrite, exp int64) stmt {
	due := dueAt(exp, w.ts, wr.clock())
	ttl := time.Until(time.Unix(0, due)) + wr.db.cfg.EventRetention
	if ttl < wr.db.cfg.EventRetention {
		ttl = wr.db.cfg.EventRetention
	}
	if ttl > maxTTL {
		ttl = maxTTL
	}
	return stmt{
		cql:  wr.db.stmts.insertExpiry,
		args: []any{expiryBucketOf(due), due, w.cid, int64(ttl / time.Second), w.ts},
		size: 40 + len(w.cid),
		part: expiryPart(expiryBucketOf(due)),
		w:    w,
	}
}

// Expired calls fn for the entries of the expiry index due between from
// and to.
func (f *Feed) Expired(ctx context.Context, from, to time.Time, fn func(ExpiryEntry) error) (err error) {
	d := f.db
	defer func(start time.Time) { d.metrics.observe("expired", start, err) }(time.Now())
	for b := expiryBucketOf(from.UnixNano()); b <= expiryBucketOf(to.UnixNano()); b++ {
		iter := d.session.Query(d.stmts.expiryDue, b, to.UnixNano()).WithContext(ctx).PageSize(d.cfg.PageSize).Iter()
		var (
			ns  int64
			cid []byte
		)
		for iter.Scan(&ns, &cid) {
			if ns < from.UnixNano() {
				continue
			}
			c, err := api.CastCid(cid)
			if err != nil {
				continue
			}
			if err := fn(ExpiryEntry{Cid: c, ExpireAt: time.Unix(0, ns)}); err != nil {
				_ = iter.Close()
				return err
			}
		}
		err := iter.Close()
		d.health.record(err)
		if err != nil {
			return fmt.Errorf("reading the expiry index: %w", err)
		}
	}
	return nil
}

// ForgetExpiry removes an entry of the expiry index.
func (f *Feed) ForgetExpiry(ctx context.Context, e ExpiryEntry) error {
	d := f.db
	ns := e.ExpireAt.UnixNano()
	err := d.session.Query(d.stmts.deleteExpiry, expiryBucketOf(ns), ns, e.Cid.Bytes()).WithContext(ctx).Exec()
	d.health.record(err)
	if err != nil {
		return fmt.Errorf("removing %s from the expiry index: %w", e.Cid, err)
	}
	return nil
}
