package scyllastate

import "context"

const (
	// getFlushers is the number of reads a store runs at once for Get;
	// calls that arrive meanwhile are read together in the next one.
	getFlushers = 2
	// maxGetGroup bounds the CIDs of one read.
	maxGetGroup = 32
)

// scanRow reads the pin columns and the version columns of one row.
func scanRow(scan func(...any) error) (pinRow, error) {
	var (
		row            pinRow
		wt, unpinnedAt *int64
	)
	err := scan(&row.cid, &row.pin, &row.meta, &row.legacyMode, &row.legacyUserAllocs, &row.legacyTsNs, &row.legacyExpireAtNs, &wt, &unpinnedAt)
	if wt != nil {
		row.writeTime = *wt
	}
	if unpinnedAt != nil {
		row.unpinnedAt = *unpinnedAt
	}
	return row, err
}

// getter reads pins for Get and Has, several CIDs per query when calls
// come together.
type getter struct {
	db *db
	// observe is the writer's writer.observe: a change that follows a
	// read is stamped after what it read.
	observe func(ts int64)
	groups  *grouper[*getItem]
}

// getItem is one Get or Has waiting for its group.
type getItem struct {
	ctx   context.Context
	cid   []byte
	row   pinRow
	found bool
	err   error
	done  chan struct{}
}

// newGetter builds the getter of a store; its reads move the writer's
// clock through observe.
func newGetter(d *db, observe func(ts int64)) *getter {
	g := &getter{db: d, observe: observe}
	g.groups = newGrouper(getFlushers, maxGetGroup, g.read)
	return g
}

// get reads the row of a CID, with the gets of concurrent calls.
func (g *getter) get(ctx context.Context, cid []byte) (pinRow, bool, error) {
	it := &getItem{ctx: ctx, cid: cid, done: make(chan struct{})}
	if !g.groups.submit(it) {
		return pinRow{}, false, ErrClosed
	}
	select {
	case <-it.done:
		return it.row, it.found, it.err
	case <-ctx.Done():
		return pinRow{}, false, ctx.Err()
	}
}

// read answers a group of gets with one query. Items whose caller gave up
// are left out.
func (g *getter) read(items []*getItem) {
	defer func() {
		for _, it := range items {
			close(it.done)
		}
	}()
	byKey := map[string]*getItem{}
	var keys [][]byte
	var ctx context.Context
	for _, it := range items {
		if it.ctx.Err() != nil {
			it.err = it.ctx.Err()
			continue
		}
		if prev, dup := byKey[string(it.cid)]; dup {
			// The same CID twice in a group: answer both from one row.
			defer func(it, prev *getItem) { it.row, it.found, it.err = prev.row, prev.found, prev.err }(it, prev)
			continue
		}
		byKey[string(it.cid)] = it
		keys = append(keys, it.cid)
		if ctx == nil {
			ctx = it.ctx
		}
	}
	if len(keys) == 0 {
		return
	}
	// A group is bounded by the driver's timeout; it does not end with
	// the first caller's context.
	iter := g.db.session.Query(g.db.stmts.getPins, keys).WithContext(context.WithoutCancel(ctx)).Iter()
	scanner := iter.Scanner()
	var err error
	for scanner.Next() {
		row, serr := scanRow(scanner.Scan)
		if serr != nil {
			err = serr
			break
		}
		// A change that follows this read is stamped after what it
		// read (hybrid logical clock), whatever the clocks.
		g.observe(row.observed())
		if it := byKey[string(row.cid)]; it != nil && row.present() {
			it.row, it.found = row, true
		}
	}
	if serr := scanner.Err(); err == nil {
		err = serr
	}
	g.db.health.record(err)
	if err != nil {
		for _, it := range byKey {
			it.err = err
		}
	}
}

// close refuses new gets and waits for the reads in flight.
func (g *getter) close() { g.groups.close() }
