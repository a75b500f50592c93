package seams

import (
	"context"
	"sync/atomic"

	"github.com/gocql/gocql"
)

// cqlObservers are the observers a test installed with SetCQLObserver.
type cqlObservers struct {
	query gocql.QueryObserver
	batch gocql.BatchObserver
}

var cqlObserver atomic.Pointer[cqlObservers]

// SetCQLObserver installs q and b (either may be nil) as observers of
// every statement and batch sent by the driver sessions that the stores
// of this process open afterwards (state/scyllastate applies them where
// it builds its driver configuration, see ObserveCQL). It is for tests
// only, e.g. a TestMain that checks every statement a suite sends;
// production code never calls it. It returns a func that restores the
// previous observers.
func SetCQLObserver(q gocql.QueryObserver, b gocql.BatchObserver) (restore func()) {
	prev := cqlObserver.Swap(&cqlObservers{query: q, batch: b})
	return func() { cqlObserver.Store(prev) }
}

// ObserveCQL adds the observers installed with SetCQLObserver to a driver
// configuration, after any observer c already has (both are called). It
// does nothing when no test installed any, which is always the case in
// production.
func ObserveCQL(c *gocql.ClusterConfig) {
	o := cqlObserver.Load()
	if o == nil {
		return
	}
	if o.query != nil {
		if c.QueryObserver != nil {
			c.QueryObserver = queryObservers{c.QueryObserver, o.query}
		} else {
			c.QueryObserver = o.query
		}
	}
	if o.batch != nil {
		if c.BatchObserver != nil {
			c.BatchObserver = batchObservers{c.BatchObserver, o.batch}
		} else {
			c.BatchObserver = o.batch
		}
	}
}

// queryObservers calls several query observers in order.
type queryObservers []gocql.QueryObserver

// ObserveQuery passes q to every observer.
func (obs queryObservers) ObserveQuery(ctx context.Context, q gocql.ObservedQuery) {
	for _, o := range obs {
		o.ObserveQuery(ctx, q)
	}
}

// batchObservers calls several batch observers in order.
type batchObservers []gocql.BatchObserver

// ObserveBatch passes b to every observer.
func (obs batchObservers) ObserveBatch(ctx context.Context, b gocql.ObservedBatch) {
	for _, o := range obs {
		o.ObserveBatch(ctx, b)
	}
}
