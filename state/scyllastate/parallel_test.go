package scyllastate

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestForEach(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	var sum atomic.Int64
	if err := forEach(context.Background(), items, 8, func(_ context.Context, i int) error {
		sum.Add(int64(i))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sum.Load() != 4950 {
		t.Errorf("sum of the items seen: %d, want 4950 (each item once)", sum.Load())
	}

	// The first failure cancels the others (who wait for it here) and
	// stops the feeding: few items are started.
	boom := errors.New("boom")
	var started atomic.Int64
	err := forEach(context.Background(), items, 4, func(ctx context.Context, i int) error {
		started.Add(1)
		if i == 0 {
			return boom
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return errors.New("not cancelled after the first failure")
		}
	})
	if !errors.Is(err, boom) {
		t.Errorf("forEach returned %v, want the first error", err)
	}
	if n := started.Load(); n > 5 {
		t.Errorf("%d items started after the first failed (4 workers): the failure did not stop the work", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := forEach(ctx, items, 4, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v, want context.Canceled", err)
	}
	if err := forEach(context.Background(), []int(nil), 4, func(context.Context, int) error { return nil }); err != nil {
		t.Errorf("no items: %v", err)
	}
}
