package scyllastate

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// A merged listing reads list_concurrency partition numbers at once, each
// from every peer: the rows of a page are mergeRows shared among the
// peers, at least mergeMinPage and at most page_size each, so that its
// memory stays about list_concurrency × mergeRows rows (twice that with
// the driver's prefetch) whatever the number of peers, up to 40 of them.
const (
	mergeRows    = 4000
	mergeMinPage = 100
)

// mergePage is the page size of each peer's read in a merged listing.
func mergePage(pageSize, peers int) int {
	return min(pageSize, max(mergeRows/max(peers, 1), mergeMinPage))
}

// PeerTrackerError is a failed operation stored by one peer's tracker.
type PeerTrackerError struct {
	// Peer is the peer whose tracker failed (as given to
	// MergedTrackerErrors).
	Peer string
	TrackerError
}

// MergedTrackerErrors calls fn once for every CID in error on any of
// peers, with the failed operation each of those peers stored for it.
// Each peer's rows of a partition are sorted by CID, and a CID falls in
// the same partition number for every peer: the listing merges the
// peers' partitions of one number at a time, list_concurrency numbers at
// once, each paged (see mergeRows), so memory does not grow with the
// number of errors (a cluster-wide `status --filter
// error` over millions of them). fn is called from several goroutines; an
// error from fn or a read stops the listing and is returned. A row that
// cannot be decoded is logged and skipped.
func (s *ScyllaState) MergedTrackerErrors(ctx context.Context, peers []string, fn func(c api.Cid, errs []PeerTrackerError) error) (err error) {
	defer func(start time.Time) { s.metrics.observe("merge_tracker_errors", start, err) }(time.Now())
	if len(peers) == 0 {
		return nil
	}
	buckets := make([]int16, TrackerErrorBuckets)
	for i := range buckets {
		buckets[i] = int16(i)
	}
	return forEach(ctx, buckets, s.cfg.ListConcurrency, func(ctx context.Context, b int16) error {
		return s.mergeTrackerErrorPartitions(ctx, peers, b, fn)
	})
}

// errorCursor is one peer's read of one partition: its current row.
type errorCursor struct {
	peer    string
	iter    *gocql.Iter
	scanner gocql.Scanner
	head    TrackerError
	key     []byte // head's CID bytes; nil once the partition is read
	err     error  // why the read ended early, if it did
}

// next moves to the next row that decodes; key is nil at the end, and err
// is set if the read failed.
func (c *errorCursor) next() {
	c.key = nil
	for c.scanner.Next() {
		e, err := scanTrackerError(c.scanner.Scan)
		if err != nil {
			logger.Errorf("skipping an undecodable row of %s (peer %s): %s", trackerErrorsTable, c.peer, err)
			continue
		}
		c.head, c.key = e, e.Cid.Bytes()
		return
	}
	c.err = c.scanner.Err()
}

func (s *ScyllaState) mergeTrackerErrorPartitions(ctx context.Context, peers []string, b int16, fn func(api.Cid, []PeerTrackerError) error) error {
	cursors := make([]*errorCursor, 0, len(peers))
	defer func() {
		for _, c := range cursors {
			_ = c.iter.Close()
		}
	}()
	page := mergePage(s.cfg.PageSize, len(peers))
	for _, p := range peers {
		iter := s.session.Query(s.trackerErrorStmts().list, p, b).
			WithContext(ctx).Consistency(s.cons).PageSize(page).Iter()
		c := &errorCursor{peer: p, iter: iter, scanner: iter.Scanner()}
		cursors = append(cursors, c)
		c.next()
	}
	group := make([]PeerTrackerError, 0, len(peers))
	for {
		// A read that failed ends the listing before any CID it may hold
		// is given without that peer's error.
		var least []byte
		for _, c := range cursors {
			if c.err != nil {
				s.health.record(c.err)
				return fmt.Errorf("reading the tracker errors of peer %s (partition %d): %w", c.peer, b, c.err)
			}
			if c.key != nil && (least == nil || bytes.Compare(c.key, least) < 0) {
				least = c.key
			}
		}
		if least == nil {
			s.health.record(nil)
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		group = group[:0]
		var cid api.Cid
		for _, c := range cursors {
			if c.key != nil && bytes.Equal(c.key, least) {
				cid = c.head.Cid
				group = append(group, PeerTrackerError{Peer: c.peer, TrackerError: c.head})
			}
		}
		for _, c := range cursors {
			if c.key != nil && bytes.Equal(c.key, least) {
				c.next()
			}
		}
		if err := fn(cid, append([]PeerTrackerError(nil), group...)); err != nil {
			return err
		}
	}
}
