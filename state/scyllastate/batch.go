package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

// BatchingState buffers Add and Rm and writes them on Commit. Reads go to
// the database and do not see buffered writes, as with upstream's
// dsstate.BatchingState. When Config.BatchSize writes are buffered it
// starts writing them in the background and keeps buffering (one group in
// flight at a time, so that reading the input and writing overlap and
// memory stays bounded); Commit waits for it and writes the rest.
type BatchingState struct {
	*ScyllaState

	mu      sync.Mutex
	pending map[string]*pendingWrite
	order   []string // CIDs in first-buffered order

	flight   chan struct{} // holds a token while a background commit runs
	asyncErr error         // the error of the last background commit
}

var _ state.BatchingState = (*BatchingState)(nil)

// Batch returns a batching view of the store sharing its session. Closing
// either closes the session.
func (s *ScyllaState) Batch() *BatchingState {
	return &BatchingState{ScyllaState: s, pending: map[string]*pendingWrite{}, flight: make(chan struct{}, 1)}
}

// Add buffers a pin. It may start a background write when the buffer is
// full, and it returns the error of a background write that failed.
func (b *BatchingState) Add(ctx context.Context, p api.Pin) error {
	row, err := encodePin(p)
	if err != nil {
		return err
	}
	return b.queue(ctx, pinWrite(row))
}

// Rm buffers the removal of a pin.
func (b *BatchingState) Rm(ctx context.Context, c api.Cid) error {
	if !c.Defined() {
		return ErrUndefinedCid
	}
	return b.queue(ctx, unpinWrite(c.Bytes()))
}

// queue buffers an operation; the last one for a CID wins.
func (b *BatchingState) queue(ctx context.Context, w *pendingWrite) error {
	b.mu.Lock()
	if err := b.asyncErr; err != nil {
		b.mu.Unlock()
		return err
	}
	k := string(w.cid)
	if _, ok := b.pending[k]; !ok {
		b.order = append(b.order, k)
	}
	b.pending[k] = w
	full := len(b.pending) >= b.cfg.BatchSize
	b.mu.Unlock()
	if !full {
		return nil
	}
	select {
	case b.flight <- struct{}{}: // the previous background commit is done
	case <-ctx.Done():
		return ctx.Err()
	}
	ws := b.take()
	go func() {
		defer func() { <-b.flight }()
		if err := b.write(ctx, ws); err != nil {
			b.mu.Lock()
			b.asyncErr = err
			b.mu.Unlock()
		}
	}()
	return nil
}

// take empties the buffer.
func (b *BatchingState) take() []*pendingWrite {
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := make([]*pendingWrite, len(b.order))
	for i, k := range b.order {
		ws[i] = b.pending[k]
	}
	b.pending, b.order = map[string]*pendingWrite{}, nil
	return ws
}

// Commit waits for the background write, then writes the buffered
// operations. Operations that fail stay buffered (unless replaced
// meanwhile) so that a later Commit retries them; the error lists every
// failure.
func (b *BatchingState) Commit(ctx context.Context) error {
	select {
	case b.flight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.flight }()
	b.mu.Lock()
	asyncErr := b.asyncErr
	b.asyncErr = nil
	b.mu.Unlock()
	err := b.write(ctx, b.take())
	if asyncErr != nil {
		return multierror.Append(asyncErr, err).ErrorOrNil()
	}
	return err
}

// write commits operations and puts the failed ones back in the buffer.
// Operations of unknown outcome are not put back: the store retries them
// with their timestamp until they are written (see ErrOutcomeUnknown).
func (b *BatchingState) write(ctx context.Context, ws []*pendingWrite) (err error) {
	if len(ws) == 0 {
		return nil
	}
	defer func(start time.Time) { b.metrics.observe("commit", start, err) }(time.Now())
	b.metrics.observeBatch(len(ws))
	for start := 0; start < len(ws); start += b.cfg.BatchSize {
		b.writer.commit(ctx, ws[start:min(start+b.cfg.BatchSize, len(ws))])
	}
	var (
		merr    *multierror.Error
		failed  []*pendingWrite
		unknown int
	)
	for _, w := range ws {
		if w.err == nil {
			continue
		}
		if errors.Is(w.err, ErrOutcomeUnknown) {
			unknown++
		} else {
			failed = append(failed, w)
		}
		if merr == nil || merr.Len() < 10 {
			merr = multierror.Append(merr, fmt.Errorf("%s of %s: %w", w.op, cidString(w.cid), w.err))
		}
	}
	if len(failed) == 0 && unknown == 0 {
		return nil
	}
	b.requeue(failed)
	return fmt.Errorf("batch commit: %d of %d operations written, %d of unknown outcome retried by the store until written, %d kept for the next commit (first errors: %w)",
		len(ws)-len(failed)-unknown, len(ws), unknown, len(failed), merr.ErrorOrNil())
}

// requeue puts failed operations back unless newer ones replaced them.
func (b *BatchingState) requeue(failed []*pendingWrite) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range failed {
		k := string(w.cid)
		if _, newer := b.pending[k]; newer {
			continue
		}
		b.pending[k] = w
		b.order = append(b.order, k)
	}
}

// Pending returns the number of buffered operations.
func (b *BatchingState) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

func cidString(b []byte) string {
	c, err := api.CastCid(b)
	if err != nil {
		return fmt.Sprintf("%x", b)
	}
	return c.String()
}
