package scyllastate

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/gocql/gocql"
)

// Statements are written in unlogged batches (no batchlog), bounded in
// size, statements and partitions (see chunk), write_concurrency at a
// time (see runBatches).

const (
	// maxBatchBytes keeps batches below Cassandra's default
	// batch_size_warn_threshold (5 KiB), so that no batch floods the
	// server log with warnings.
	maxBatchBytes = 3800
	// maxBatchStatements bounds the statements of one batch.
	maxBatchStatements = 64
	// maxBatchPartitions bounds the partitions of one batch: Cassandra
	// warns above 10 (unlogged_batch_across_partitions_warn_threshold).
	maxBatchPartitions = 10
)

// stmt is one statement of a batch, with its estimated size.
type stmt struct {
	cql  string
	args []any
	size int
	// part identifies the statement's partition (a hash: it only counts
	// the partitions of a batch, see chunk).
	part uint64
	w    *pendingWrite
	// done, for a statement of no change (w nil, e.g. the activity
	// index), is told the outcome of its batch.
	done func(error)
}

// chunk cuts statements into unlogged batches within the limits: bytes,
// statements and partitions. A batch may span partitions (fewer requests
// for the database to handle); it is then not atomic, which nothing
// relies on: a failed batch fails every change in it, whose outcome is
// then unknown and which the writer finishes (see writer.end). Statements
// of one partition that follow each other stay in one batch when they fit.
func chunk(stmts []stmt) [][]stmt {
	var out [][]stmt
	var cur []stmt
	var parts []uint64
	size := 0
	for _, st := range stmts {
		newPart := !slices.Contains(parts, st.part)
		if len(cur) > 0 && (size+st.size > maxBatchBytes || len(cur) >= maxBatchStatements ||
			(newPart && len(parts) >= maxBatchPartitions)) {
			out = append(out, cur)
			cur, parts, size = nil, parts[:0], 0
			newPart = true
		}
		if newPart {
			parts = append(parts, st.part)
		}
		cur = append(cur, st)
		size += st.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// eventPart, rowPart and expiryPart identify the partitions of the
// statements (see chunk); tables differ in the top bits.
func eventPart(bucket int64, shard int8) uint64 {
	return 1<<62 | uint64(bucket)<<8 | uint64(uint8(shard))
}

func rowPart(cid []byte) uint64 { return 2<<62 | uint64(cidHash(cid)) }

func expiryPart(bucket int64) uint64 { return 3<<62 | uint64(bucket)&(1<<62-1) }

// cidHash is the FNV-1a hash of a CID, that orders and identifies rows
// (and of a peer ID, for errorPart).
func cidHash(c []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(c)
	return h.Sum32()
}

// runBatches executes unlogged batches, write_concurrency at a time, at
// the configured consistency. A failed batch sets the error of its
// changes; ok is called for the changes of every batch that succeeded.
func (d *db) runBatches(ctx context.Context, batches [][]stmt, what string, cons gocql.Consistency, ok func(*pendingWrite)) {
	sem := make(chan struct{}, d.cfg.WriteConcurrency)
	var (
		wg sync.WaitGroup
		mu sync.Mutex // guards the changes' err: a change may span batches
	)
	run := func(b []stmt) {
		defer func() { <-sem }()
		err := d.execBatch(ctx, b, cons)
		d.health.record(err)
		mu.Lock()
		defer mu.Unlock()
		for _, st := range b {
			if st.w == nil {
				if st.done != nil {
					st.done(err)
				}
				continue
			}
			if err != nil {
				if st.w.err == nil {
					st.w.err = fmt.Errorf("%s: %w", what, err)
				}
			} else if ok != nil {
				ok(st.w)
			}
		}
	}
	for i, b := range batches {
		sem <- struct{}{}
		if i == len(batches)-1 {
			// The last one on this goroutine: a group of one batch
			// (the common case) starts no goroutine.
			run(b)
			break
		}
		wg.Add(1)
		go func(b []stmt) {
			defer wg.Done()
			run(b)
		}(b)
	}
	wg.Wait()
}

// execBatch executes one batch; a batch of one statement as a single query.
func (d *db) execBatch(ctx context.Context, b []stmt, cons gocql.Consistency) error {
	if len(b) == 1 {
		return d.session.Query(b[0].cql, b[0].args...).WithContext(ctx).Consistency(cons).Idempotent(true).Exec()
	}
	batch := d.session.Batch(gocql.UnloggedBatch).WithContext(ctx)
	batch.SetConsistency(cons)
	for _, st := range b {
		batch.Entries = append(batch.Entries, gocql.BatchEntry{Stmt: st.cql, Args: st.args, Idempotent: true})
	}
	return batch.Exec()
}
