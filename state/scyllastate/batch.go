package scyllastate

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// BatchingState buffers Add and Rm and writes them on Commit. Reads go to
// the database and do not see buffered writes, as with upstream's
// dsstate.BatchingState. When Config.BatchSize writes are buffered it
// flushes on its own, which bounds its memory on large imports.
type BatchingState struct {
	*ScyllaState

	mu      sync.Mutex
	pending map[string]*pinRow // nil row: removal
	order   []string           // CIDs in first-buffered order
}

// Batch returns a batching view of the store sharing its session. Closing
// either closes the session.
func (s *ScyllaState) Batch() *BatchingState {
	return &BatchingState{ScyllaState: s, pending: map[string]*pinRow{}}
}

// Add buffers a pin. It may flush when the buffer is full.
func (b *BatchingState) Add(ctx context.Context, p api.Pin) error {
	row, err := encodePin(p)
	if err != nil {
		return err
	}
	return b.queue(ctx, row.cid, &row)
}

// Rm buffers the removal of a pin. It may flush when the buffer is full.
func (b *BatchingState) Rm(ctx context.Context, c api.Cid) error {
	return b.queue(ctx, c.Bytes(), nil)
}

// queue buffers an operation; the last one for a CID wins.
func (b *BatchingState) queue(ctx context.Context, cid []byte, row *pinRow) error {
	b.mu.Lock()
	k := string(cid)
	if _, ok := b.pending[k]; !ok {
		b.order = append(b.order, k)
	}
	b.pending[k] = row
	full := len(b.pending) >= b.cfg.BatchSize
	b.mu.Unlock()
	if full {
		return b.Commit(ctx)
	}
	return nil
}

// Commit writes the buffered operations, Config.WriteConcurrency at a
// time. Operations that fail stay buffered (unless replaced meanwhile) so
// that a later Commit retries them; the error lists every failure.
func (b *BatchingState) Commit(ctx context.Context) (err error) {
	b.mu.Lock()
	pending, order := b.pending, b.order
	b.pending, b.order = map[string]*pinRow{}, nil
	b.mu.Unlock()
	if len(order) == 0 {
		return nil
	}
	defer func(start time.Time) { b.metrics.observe("commit", start, err) }(time.Now())
	b.metrics.observeBatch(len(order))

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		merr    *multierror.Error
		failed  []string
		written atomic.Int64
	)
	sem := make(chan struct{}, b.cfg.WriteConcurrency)
	for _, k := range order {
		if ctx.Err() != nil {
			mu.Lock()
			failed = append(failed, k)
			mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(k string, row *pinRow) {
			defer func() { <-sem; wg.Done() }()
			var err error
			if row == nil {
				err = b.remove(ctx, []byte(k))
			} else {
				err = b.write(ctx, *row)
			}
			if err != nil {
				mu.Lock()
				merr = multierror.Append(merr, err)
				failed = append(failed, k)
				mu.Unlock()
				return
			}
			written.Add(1)
		}(k, pending[k])
	}
	wg.Wait()
	if ctx.Err() != nil {
		merr = multierror.Append(merr, ctx.Err())
	}
	if len(failed) == 0 {
		return nil
	}
	b.requeue(pending, failed)
	return fmt.Errorf("batch commit: %d of %d operations written, %d kept for the next commit: %w",
		written.Load(), len(order), len(failed), merr.ErrorOrNil())
}

// requeue puts failed operations back unless newer ones replaced them.
func (b *BatchingState) requeue(pending map[string]*pinRow, failed []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range failed {
		if _, newer := b.pending[k]; newer {
			continue
		}
		b.pending[k] = pending[k]
		b.order = append(b.order, k)
	}
}

// Pending returns the number of buffered operations.
func (b *BatchingState) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}
