package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// The failed operations of each peer's pin tracker live in the table
// tracker_errors (schema version 5), so that a peer with millions of pins
// in error does not hold them in memory: one row per CID in error, in
// TrackerErrorBuckets partitions per peer (a hash of the CID picks the
// partition), so that 1M errors of one peer make 64 partitions of about
// 16k rows. Every read names its partition; a peer lists its own errors
// by reading its partitions, paged.

// TrackerErrorBuckets is the number of partitions of each peer's errors.
const TrackerErrorBuckets = 64

// trackerErrorTTL is how long a row lives unless written again: a peer
// writes its rows again each time a recover retries them and fails (every
// pin_recover_interval), so only the rows of a peer gone for good expire.
const trackerErrorTTL = 14 * 24 * time.Hour

// TrackerError is a failed operation of a peer's pin tracker.
type TrackerError struct {
	Cid api.Cid
	// Unpin tells that the operation was an unpin (else a pin).
	Unpin bool
	// Error is the error message.
	Error string
	// Attempts is the tracker's attempt count of the operation.
	Attempts int
	// FailedAt is when it failed; the row is written at that time, so
	// that a later success (ForgetTrackerError) wins over it whatever
	// the order the two statements arrive in.
	FailedAt time.Time
	// Pin is the pin of the operation (name, allocations, metadata), for
	// the status it gives.
	Pin api.Pin
}

// trackerErrorStatements are the statements of the table, built as
// newStatements builds the others (USING TIMEOUT on ScyllaDB reads).
type trackerErrorStatements struct {
	insert, remove, get, list string
}

const trackerErrorColumns = "cid, op, error, attempts, failed_at, pin"

func newTrackerErrorStatements(ks string, kind ServerKind, timeout time.Duration) trackerErrorStatements {
	t := ks + "." + trackerErrorsTable
	st := trackerErrorStatements{
		insert: "INSERT INTO " + t + " (peer, bucket, " + trackerErrorColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?",
		remove: "DELETE FROM " + t + " USING TIMESTAMP ? WHERE peer = ? AND bucket = ? AND cid = ?",
		get:    "SELECT " + trackerErrorColumns + " FROM " + t + " WHERE peer = ? AND bucket = ? AND cid = ?",
		list:   "SELECT " + trackerErrorColumns + " FROM " + t + " WHERE peer = ? AND bucket = ?",
	}
	if kind == Scylla {
		using := " USING TIMEOUT " + strconv.FormatInt(max(timeout.Milliseconds(), 1), 10) + "ms"
		st.get += using
		st.list += using
	}
	return st
}

// trackerErrorStmtCache holds the statements by keyspace, server kind and
// timeout (a handful of values per process): the store's own fields are
// not this file's.
var trackerErrorStmtCache sync.Map

type trackerErrorStmtKey struct {
	ks      string
	kind    ServerKind
	timeout time.Duration
}

func (s *ScyllaState) trackerErrorStmts() trackerErrorStatements {
	k := trackerErrorStmtKey{s.cfg.Keyspace, s.server.Kind, s.cfg.Timeout}
	if v, ok := trackerErrorStmtCache.Load(k); ok {
		return v.(trackerErrorStatements)
	}
	st := newTrackerErrorStatements(k.ks, k.kind, k.timeout)
	trackerErrorStmtCache.Store(k, st)
	return st
}

// trackerErrorBucket is the partition of a CID among a peer's.
func trackerErrorBucket(c api.Cid) int16 {
	h := fnv.New32a()
	_, _ = h.Write(c.Bytes())
	return int16(h.Sum32() % TrackerErrorBuckets)
}

const (
	trackerOpPin   int8 = 1
	trackerOpUnpin int8 = 2
)

// RecordTrackerError stores a failed operation of peer's tracker,
// replacing the one stored for its CID.
func (s *ScyllaState) RecordTrackerError(ctx context.Context, peer string, e TrackerError) (err error) {
	defer func(start time.Time) { s.metrics.observe("record_tracker_error", start, err) }(time.Now())
	if !e.Cid.Defined() {
		return ErrUndefinedCid
	}
	pb, err := e.Pin.ProtoMarshal()
	if err != nil {
		return fmt.Errorf("encoding the pin of %s: %w", e.Cid, err)
	}
	op := trackerOpPin
	if e.Unpin {
		op = trackerOpUnpin
	}
	failedAt := e.FailedAt
	if failedAt.IsZero() {
		failedAt = time.Now()
	}
	// The column is text: an error message that is not valid UTF-8
	// would be refused, and with it the writes batched with it.
	msg := strings.ToValidUTF8(e.Error, "\uFFFD")
	b, cid := trackerErrorBucket(e.Cid), e.Cid.Bytes()
	err = s.errWrites.exec(ctx, stmt{
		cql:  s.trackerErrorStmts().insert,
		args: []any{peer, b, cid, op, msg, e.Attempts, failedAt, pb, int(trackerErrorTTL.Seconds()), failedAt.UnixMicro()},
		size: 48 + len(peer) + len(cid) + len(msg) + len(pb),
		part: errorPart(peer, b),
	})
	if err != nil {
		return fmt.Errorf("recording the tracker error of %s: %w", e.Cid, err)
	}
	return nil
}

// ForgetTrackerError removes the failed operation stored for a CID of
// peer's tracker, unless one was stored after at (the time the CID's
// operation succeeded).
func (s *ScyllaState) ForgetTrackerError(ctx context.Context, peer string, c api.Cid, at time.Time) (err error) {
	defer func(start time.Time) { s.metrics.observe("forget_tracker_error", start, err) }(time.Now())
	if !c.Defined() {
		return ErrUndefinedCid
	}
	b, cid := trackerErrorBucket(c), c.Bytes()
	err = s.errWrites.exec(ctx, stmt{
		cql:  s.trackerErrorStmts().remove,
		args: []any{at.UnixMicro(), peer, b, cid},
		size: 24 + len(peer) + len(cid),
		part: errorPart(peer, b),
	})
	if err != nil {
		return fmt.Errorf("removing the tracker error of %s: %w", c, err)
	}
	return nil
}

// TrackerError reads the failed operation stored for a CID of peer's
// tracker; found is false when there is none.
func (s *ScyllaState) TrackerError(ctx context.Context, peer string, c api.Cid) (e TrackerError, found bool, err error) {
	defer func(start time.Time) { s.metrics.observe("get_tracker_error", start, err) }(time.Now())
	if !c.Defined() {
		return e, false, nil
	}
	e, err = scanTrackerError(s.session.Query(s.trackerErrorStmts().get, peer, trackerErrorBucket(c), c.Bytes()).
		WithContext(ctx).Consistency(s.cons).Scan)
	s.health.record(ignoreNotFound(err))
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return TrackerError{}, false, nil
	case err != nil:
		return TrackerError{}, false, fmt.Errorf("reading the tracker error of %s: %w", c, err)
	}
	return e, true, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, gocql.ErrNotFound) {
		return nil
	}
	return err
}

// TrackerErrors calls fn for every failed operation stored for peer's
// tracker, reading its partitions list_concurrency at a time, each paged
// by page_size: memory does not grow with the number of errors. fn is
// called from several goroutines; an error from fn or a read stops the
// listing and is returned. A row that cannot be decoded is logged and
// skipped.
func (s *ScyllaState) TrackerErrors(ctx context.Context, peer string, fn func(TrackerError) error) (err error) {
	defer func(start time.Time) { s.metrics.observe("list_tracker_errors", start, err) }(time.Now())
	buckets := make([]int16, TrackerErrorBuckets)
	for i := range buckets {
		buckets[i] = int16(i)
	}
	return forEach(ctx, buckets, s.cfg.ListConcurrency, func(ctx context.Context, b int16) error {
		return s.trackerErrorPartition(ctx, peer, b, fn)
	})
}

func (s *ScyllaState) trackerErrorPartition(ctx context.Context, peer string, b int16, fn func(TrackerError) error) error {
	iter := s.session.Query(s.trackerErrorStmts().list, peer, b).
		WithContext(ctx).Consistency(s.cons).PageSize(s.cfg.PageSize).Iter()
	scanner := iter.Scanner()
	for scanner.Next() {
		e, err := scanTrackerError(scanner.Scan)
		if err != nil {
			logger.Errorf("skipping an undecodable row of %s (peer %s): %s", trackerErrorsTable, peer, err)
			continue
		}
		if err := fn(e); err != nil {
			_ = iter.Close()
			return err
		}
	}
	err := scanner.Err()
	s.health.record(err)
	if err != nil {
		return fmt.Errorf("reading the tracker errors of peer %s (partition %d): %w", peer, b, err)
	}
	return nil
}

func scanTrackerError(scan func(...any) error) (TrackerError, error) {
	var (
		e        TrackerError
		cid, pin []byte
		op       int8
		msg      *string
		attempts *int
		failedAt time.Time
	)
	if err := scan(&cid, &op, &msg, &attempts, &failedAt, &pin); err != nil {
		return e, err
	}
	c, err := api.CastCid(cid)
	if err != nil {
		return e, fmt.Errorf("bad CID %x: %w", cid, err)
	}
	e.Cid, e.Unpin, e.FailedAt = c, op == trackerOpUnpin, failedAt
	if msg != nil {
		e.Error = *msg
	}
	if attempts != nil {
		e.Attempts = *attempts
	}
	if len(pin) > 0 {
		if err := e.Pin.ProtoUnmarshal(pin); err != nil {
			return e, fmt.Errorf("pin of %s: %w", c, err)
		}
	}
	e.Pin.Cid = c
	return e, nil
}
