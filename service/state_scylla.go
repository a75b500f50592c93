//go:build scylla

package service

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/pinset"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// scyllaStateManager works on the shared pinset directly. Its writes go
// through the change feed, so running peers follow an import or a
// cleanup.
type scyllaStateManager struct {
	store *scyllastate.ScyllaState
}

func newScyllaStateManager(ctx context.Context, cfgs *config.Configs, existing bool) (StateManager, error) {
	var opts []scyllastate.Option
	if existing {
		opts = append(opts, scyllastate.WithExistingPinset())
	}
	store, err := scyllastate.New(ctx, cfgs.ScyllaState, opts...)
	if err != nil {
		return nil, err
	}
	return &scyllaStateManager{store: store}, nil
}

func (m *scyllaStateManager) Export(ctx context.Context, w io.Writer) error {
	return exportPins(ctx, m.store, w)
}

// Import adds the pins to the shared pinset (replacing pins of the same
// CID) and keeps the others.
func (m *scyllaStateManager) Import(ctx context.Context, r io.Reader, opts api.PinOptions) error {
	batch := m.store.Batch()
	n, err := importPins(ctx, r, batch, opts)
	if cerr := batch.Commit(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	logger.Infof("imported %d pins into keyspace %q", n, m.store.Config().Keyspace)
	return nil
}

// Cleanup removes every pin of the shared pinset, through the change
// feed so that running peers unpin them too.
func (m *scyllaStateManager) Cleanup(ctx context.Context) error {
	batch := m.store.Batch()
	n := 0
	var rmErr error
	err := pinset.Each(ctx, m.store, func(pin api.Pin) error {
		if rmErr = batch.Rm(ctx, pin.Cid); rmErr != nil {
			return rmErr
		}
		if n++; n%100000 == 0 {
			logger.Infof("cleanup: %d pins removed", n)
		}
		return nil
	})
	if rmErr != nil {
		return rmErr
	}
	if err != nil {
		return fmt.Errorf("listing the pins to remove: %w", err)
	}
	if err := batch.Commit(ctx); err != nil {
		return err
	}
	logger.Infof("removed %d pins from keyspace %q", n, m.store.Config().Keyspace)
	return nil
}

func (m *scyllaStateManager) Shared() string       { return m.store.Config().Keyspace }
func (m *scyllaStateManager) ImportReplaces() bool { return false }
func (m *scyllaStateManager) Close() error         { return m.store.Close() }
