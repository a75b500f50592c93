package scyllastate

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"go.opencensus.io/stats"
)

// listProgressEvery is how often (in pins) a long listing logs progress.
const listProgressEvery = 500000

// tokenRange is an inclusive range of Murmur3 tokens.
type tokenRange struct{ lo, hi int64 }

// splitTokenRing cuts the whole token ring [MinInt64, MaxInt64] into n
// contiguous inclusive ranges.
func splitTokenRing(n int) []tokenRange {
	if n < 1 {
		n = 1
	}
	step := math.MaxUint64/uint64(n) + 1
	ranges := make([]tokenRange, n)
	for i := 0; i < n; i++ {
		lo := int64(uint64(1<<63) + uint64(i)*step) // wraps from MinInt64
		hi := int64(math.MaxInt64)
		if i < n-1 {
			hi = int64(uint64(1<<63)+uint64(i+1)*step) - 1
		}
		ranges[i] = tokenRange{lo, hi}
	}
	return ranges
}

// scan reads every pin by token ranges, Config.ListConcurrency ranges at a
// time, each paged by Config.PageSize; the markers unpins leave are
// skipped. emit is called from several goroutines; an error from emit or
// a query stops the scan. All goroutines have returned when scan returns.
func (s *ScyllaState) scan(ctx context.Context, emit func(*pinRow) error) error {
	return s.scanRanges(ctx, splitTokenRing(s.cfg.ListConcurrency*8), pinsOnly(emit))
}

// pinsOnly skips the rows that hold no pin (unpin markers).
func pinsOnly(emit func(*pinRow) error) func(*pinRow) error {
	return func(row *pinRow) error {
		if !row.present() {
			return nil
		}
		return emit(row)
	}
}

// scanRanges reads the rows of the given token ranges, as scan does.
func (s *ScyllaState) scanRanges(ctx context.Context, ranges []tokenRange, emit func(*pinRow) error) error {
	return forEach(ctx, ranges, s.cfg.ListConcurrency, func(ctx context.Context, r tokenRange) error {
		return s.scanRange(ctx, r, emit)
	})
}

func (s *ScyllaState) scanRange(ctx context.Context, r tokenRange, emit func(*pinRow) error) error {
	iter := s.session.Query(s.stmts.scan, r.lo, r.hi).
		WithContext(ctx).PageSize(s.cfg.PageSize).Iter()
	scanner := iter.Scanner()
	for scanner.Next() {
		row, err := scanRow(scanner.Scan)
		if err != nil {
			_ = iter.Close()
			return fmt.Errorf("reading pins: %w", err)
		}
		if err := emit(&row); err != nil {
			_ = iter.Close()
			return err
		}
	}
	err := scanner.Err()
	s.health.record(err)
	if err != nil {
		return fmt.Errorf("scanning token range [%d, %d]: %w", r.lo, r.hi, err)
	}
	return nil
}

// List sends every pin of the state to out and closes out when done, as
// upstream's states do: the caller must not close it. Pins arrive in no
// particular order. It returns early with an error when ctx is cancelled
// or a query fails; a pin that cannot be decoded is logged and skipped.
func (s *ScyllaState) List(ctx context.Context, out chan<- api.Pin) (err error) {
	defer close(out)
	defer func(start time.Time) { s.metrics.observe("list", start, err) }(time.Now())

	var total atomic.Int64
	err = s.scan(ctx, func(row *pinRow) error {
		p, err := row.decode()
		if err != nil {
			logger.Errorf("skipping undecodable pin row: %s", err)
			return nil
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return ctx.Err()
		}
		if n := total.Add(1); n%listProgressEvery == 0 {
			logger.Infof("full pinset listing in progress: %d pins so far", n)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("full pinset listing aborted: %w", err)
		logger.Warn(err)
		return err
	}
	n := total.Load()
	if n >= listProgressEvery {
		logger.Infof("full pinset listing finished: %d pins", n)
	}
	stats.Record(ctx, observations.Pins.M(n))
	return nil
}

// ListSlice calls fn for every pin of slice i (0-based) of n equal slices
// of the token ring: n calls with i from 0 to n-1 visit every pin once,
// each reading about 1/n of the table. fn is called from several
// goroutines; an error from fn stops the listing and is returned.
func (s *ScyllaState) ListSlice(ctx context.Context, i, n int, fn func(api.Pin) error) (err error) {
	defer func(start time.Time) { s.metrics.observe("list_slice", start, err) }(time.Now())
	return s.scanSlice(ctx, i, n, pinsOnly(func(row *pinRow) error {
		p, err := row.decode()
		if err != nil {
			logger.Errorf("skipping undecodable pin row: %s", err)
			return nil
		}
		return fn(p)
	}))
}

func (s *ScyllaState) scanSlice(ctx context.Context, i, n int, emit func(*pinRow) error) error {
	if n < 1 || i < 0 || i >= n {
		return fmt.Errorf("slice %d of %d: out of range", i, n)
	}
	slice := splitTokenRing(n)[i]
	return s.scanRanges(ctx, splitRange(slice, s.cfg.ListConcurrency), emit)
}

// SliceEntry is one entry of a slice of the pinset: a pin, or the marker
// an unpin leaves for event_retention.
type SliceEntry struct {
	// Cid is the CID of the entry.
	Cid api.Cid
	// Pin is the pin; nil when the CID was unpinned (a marker).
	Pin *api.Pin
	// WriteTime is the write timestamp (microseconds) of the pin, or of
	// the unpin when Pin is nil.
	WriteTime int64
}

// ScanSlice calls fn for every entry of slice i (0-based) of n equal
// slices of the token ring: the pins, as ListSlice, and the CIDs unpinned
// within event_retention (Pin nil), so that a reader can repair both a
// missed pin and a missed unpin. fn is called from several goroutines; an
// error from fn stops the scan and is returned.
func (s *ScyllaState) ScanSlice(ctx context.Context, i, n int, fn func(SliceEntry) error) (err error) {
	defer func(start time.Time) { s.metrics.observe("list_slice", start, err) }(time.Now())
	return s.scanSlice(ctx, i, n, func(row *pinRow) error {
		c, err := api.CastCid(row.cid)
		if err != nil {
			logger.Errorf("skipping pin row with a bad CID %x: %s", row.cid, err)
			return nil
		}
		if !row.present() {
			if row.unpinnedAt == 0 {
				return nil
			}
			return fn(SliceEntry{Cid: c, WriteTime: row.unpinnedAt})
		}
		p, err := row.decode()
		if err != nil {
			logger.Errorf("skipping undecodable pin row: %s", err)
			return nil
		}
		return fn(SliceEntry{Cid: c, Pin: &p, WriteTime: row.writeTime})
	})
}

// splitRange cuts an inclusive token range into at most n contiguous
// inclusive ranges.
func splitRange(r tokenRange, n int) []tokenRange {
	width := uint64(r.hi) - uint64(r.lo) // fits: ranges never wrap
	if n < 1 || width < uint64(n) {
		return []tokenRange{r}
	}
	step := width / uint64(n)
	out := make([]tokenRange, n)
	lo := r.lo
	for i := range out {
		hi := int64(uint64(lo) + step - 1)
		if i == n-1 {
			hi = r.hi
		}
		out[i] = tokenRange{lo, hi}
		lo = hi + 1
	}
	return out
}
