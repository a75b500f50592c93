package scyllastate

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// Pins with an expiry date have an entry in pin_expiry, partitioned by
// hour of expiry, so that the expired ones are found without scanning the
// pinset. Entries are written with the pin row and may outlive it (the
// pin unpinned, or pinned again with another expiry): readers check the
// pin before acting, and forget entries once handled.

// ExpiryEntry is one entry of the expiry index.
type ExpiryEntry struct {
	Cid      api.Cid
	ExpireAt time.Time
}

// Expired calls fn for the entries of the expiry index with an expiry
// between from and to.
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
