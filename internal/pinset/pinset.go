// Package pinset holds helpers over upstream's state.ReadOnly.
package pinset

import (
	"context"
	"fmt"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"
)

// Each calls fn for every pin of st, in List order. It owns the channel
// and the goroutine that List needs (List closes the channel; the caller
// must not), stops the listing when fn returns an error, and returns that
// error, or List's. All its goroutines have returned when it returns.
func Each(ctx context.Context, st state.ReadOnly, fn func(api.Pin) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan api.Pin, 1024)
	listErr := make(chan error, 1)
	go func() { listErr <- st.List(ctx, out) }()
	var fnErr error
	for p := range out {
		if fnErr != nil {
			continue // drain until List closes out
		}
		if fnErr = fn(p); fnErr != nil {
			cancel()
		}
	}
	err := <-listErr
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("listing the pinset: %w", err)
	}
	return nil
}
