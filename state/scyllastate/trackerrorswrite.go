package scyllastate

import "context"

const (
	// errorWriteFlushers is the number of groups of tracker-error writes
	// a store sends at once; writes that arrive meanwhile form the next
	// group.
	errorWriteFlushers = 2
	// maxErrorWriteGroup bounds the writes of one group.
	maxErrorWriteGroup = 64
)

// errorWrites sends the writes of tracker errors (a failure stored, a
// stored failure removed) that callers make at once together, in unlogged
// batches (see chunk): a sweep storing many failures at once costs the
// database a few requests instead of one per failure. Each write carries
// its own timestamp (the failure's time, the success's), so the order of
// two writes of one CID in a group does not matter.
type errorWrites struct {
	db     *db
	groups *grouper[*errorWrite]
}

// errorWrite is one statement waiting for its group, and where its caller
// waits for the outcome.
type errorWrite struct {
	ctx  context.Context
	st   stmt
	err  error
	done chan struct{}
}

func newErrorWrites(d *db) *errorWrites {
	w := &errorWrites{db: d}
	w.groups = newGrouper(errorWriteFlushers, maxErrorWriteGroup, w.write)
	return w
}

// exec writes st with the writes of concurrent callers. A write whose
// context ends before its group is sent is not sent (ctx's error). Once
// sent, its caller waits for the outcome even if ctx ends meanwhile
// (the driver's timeout and retries bound it), so that a write reported
// as failed is not still in flight: the callers' bookkeeping (the
// stored-error filter) relies on it. Any other error means the outcome
// is unknown: the statement, or its batch, may have been written.
func (w *errorWrites) exec(ctx context.Context, st stmt) error {
	it := &errorWrite{ctx: ctx, st: st, done: make(chan struct{})}
	if !w.groups.submit(it) {
		return ErrClosed
	}
	<-it.done
	return it.err
}

// write sends a group. Writes whose caller gave up before the group was
// sent are left out. A failed batch fails each write in it.
func (w *errorWrites) write(items []*errorWrite) {
	var (
		sent  []*errorWrite
		stmts []stmt
		ctx   context.Context
	)
	for _, it := range items {
		if err := it.ctx.Err(); err != nil {
			it.err = err
			close(it.done)
			continue
		}
		st := it.st
		st.done = func(err error) {
			if err != nil && it.err == nil {
				it.err = err
			}
		}
		sent = append(sent, it)
		stmts = append(stmts, st)
		if ctx == nil {
			ctx = it.ctx
		}
	}
	if len(sent) == 0 {
		return
	}
	// A group is bounded by the driver's timeout; it does not end with
	// the first caller's context.
	w.db.runBatches(context.WithoutCancel(ctx), chunk(stmts), "writing tracker errors", w.db.cons, nil)
	for _, it := range sent {
		close(it.done)
	}
}

// close refuses new writes and waits for the groups in flight.
func (w *errorWrites) close() { w.groups.close() }

// errorPart identifies the partition of a peer's tracker errors (see
// chunk).
func errorPart(peer string, bucket int16) uint64 {
	return uint64(cidHash([]byte(peer)))<<16 | uint64(uint16(bucket))
}
