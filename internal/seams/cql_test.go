package seams

import (
	"context"
	"testing"

	"github.com/gocql/gocql"
)

type countingObserver struct{ queries, batches int }

func (o *countingObserver) ObserveQuery(context.Context, gocql.ObservedQuery) { o.queries++ }
func (o *countingObserver) ObserveBatch(context.Context, gocql.ObservedBatch) { o.batches++ }

// ObserveCQL adds the installed observers after those a configuration
// has, and does nothing once they are removed.
func TestObserveCQL(t *testing.T) {
	c := gocql.NewCluster()
	ObserveCQL(c)
	if c.QueryObserver != nil || c.BatchObserver != nil {
		t.Fatal("observers set with none installed")
	}

	test := &countingObserver{}
	restore := SetCQLObserver(test, test)
	c = gocql.NewCluster()
	ObserveCQL(c)
	c.QueryObserver.ObserveQuery(context.Background(), gocql.ObservedQuery{})
	c.BatchObserver.ObserveBatch(context.Background(), gocql.ObservedBatch{})
	if test.queries != 1 || test.batches != 1 {
		t.Fatalf("installed observer called %d/%d times", test.queries, test.batches)
	}

	own := &countingObserver{}
	c = gocql.NewCluster()
	c.QueryObserver, c.BatchObserver = own, own
	ObserveCQL(c)
	c.QueryObserver.ObserveQuery(context.Background(), gocql.ObservedQuery{})
	c.BatchObserver.ObserveBatch(context.Background(), gocql.ObservedBatch{})
	if own.queries != 1 || own.batches != 1 || test.queries != 2 || test.batches != 2 {
		t.Fatalf("chained observers: own %+v, installed %+v", own, test)
	}

	restore()
	c = gocql.NewCluster()
	ObserveCQL(c)
	if c.QueryObserver != nil || c.BatchObserver != nil {
		t.Fatal("observers set after restore")
	}
}
