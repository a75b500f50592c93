package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/pinset"
)

// ErrNotConfirmed is returned when cleaning the shared Scylla pinset
// lacks the keyspace confirmation.
var ErrNotConfirmed = errors.New("not confirmed")

// StateManager exports, imports and cleans the pinset of the configured
// backend while the peer is stopped.
type StateManager interface {
	// Export writes every pin as one JSON object per line (NDJSON), the
	// format of upstream's `state export`.
	Export(ctx context.Context, w io.Writer) error
	// Import reads pins written by Export (or any stream of JSON pins)
	// and applies the overrides of opts (replication factors when > 0,
	// allocations when set).
	Import(ctx context.Context, r io.Reader, opts api.PinOptions) error
	// Cleanup removes the pinset: this peer's replica for crdt and raft,
	// the shared pinset of every peer for scylla.
	Cleanup(ctx context.Context) error
	// Shared names the keyspace when the pinset is shared by every peer
	// (scylla), and is "" otherwise.
	Shared() string
	// ImportReplaces tells whether Import first removes the pins not in
	// the file (crdt and raft, as upstream) or merges (scylla).
	ImportReplaces() bool
	// Close releases the backend.
	Close() error
}

// NewStateManager returns the state manager of the configured consensus.
// A scylla keyspace without a pinset is created (state import).
func NewStateManager(ctx context.Context, h *config.Helper) (StateManager, error) {
	return newStateManager(ctx, h, false)
}

// OpenStateManager is NewStateManager for the commands that only read or
// remove pins (state export, state cleanup): a scylla keyspace without a
// pinset (missing, or a mistyped name) is an error wrapping
// scyllastate.ErrNoPinset, never created.
func OpenStateManager(ctx context.Context, h *config.Helper) (StateManager, error) {
	return newStateManager(ctx, h, true)
}

func newStateManager(ctx context.Context, h *config.Helper, existing bool) (StateManager, error) {
	if h.Consensus() == config.Scylla {
		return newScyllaStateManager(ctx, h.Configs(), existing)
	}
	mgr, err := cmdutils.NewStateManager(h.Consensus(), h.Datastore(), h.Identity(), h.Configs().Configs)
	if err != nil {
		return nil, err
	}
	if h.Consensus() == config.Crdt {
		return crdtStateManager{upstreamStateManager{mgr}, h}, nil
	}
	return upstreamStateManager{mgr}, nil
}

// CheckCleanupConfirmation requires, for a shared pinset, that confirm
// names its keyspace: cleaning it removes every pin of every peer.
func CheckCleanupConfirmation(mgr StateManager, confirm string) error {
	ks := mgr.Shared()
	if ks == "" || confirm == ks {
		return nil
	}
	if confirm == "" {
		return fmt.Errorf("%w: this removes every pin of the whole cluster from keyspace %q: "+
			"confirm with --confirm-keyspace %s", ErrNotConfirmed, ks, ks)
	}
	return fmt.Errorf("%w: --confirm-keyspace %q does not match the configured keyspace %q", ErrNotConfirmed, confirm, ks)
}

// upstreamStateManager wraps upstream's crdt and raft state managers.
type upstreamStateManager struct{ mgr cmdutils.StateManager }

func (u upstreamStateManager) Export(_ context.Context, w io.Writer) error {
	return u.mgr.ExportState(w)
}
func (u upstreamStateManager) Import(_ context.Context, r io.Reader, opts api.PinOptions) error {
	return u.mgr.ImportState(r, opts)
}
func (u upstreamStateManager) Cleanup(context.Context) error { return u.mgr.Clean() }
func (u upstreamStateManager) Shared() string                { return "" }
func (u upstreamStateManager) ImportReplaces() bool          { return true }
func (u upstreamStateManager) Close() error                  { return nil }

// crdtStateManager is upstream's crdt state manager, but exports through a
// CrdtStore: upstream's ExportState closes the datastore under the offline
// crdt and ipfs-lite goroutines it leaves running (a data race with pebble).
type crdtStateManager struct {
	upstreamStateManager
	h *config.Helper
}

func (c crdtStateManager) Export(ctx context.Context, w io.Writer) error {
	return c.withStore(func(cs *CrdtStore) error {
		st, err := cs.State(ctx)
		if err != nil {
			return fmt.Errorf("reading the crdt state: %w", err)
		}
		return exportPins(ctx, st, w)
	})
}

// Import replaces the crdt pinset with the pins read from r, as upstream's
// crdt ImportState (clean, then add every pin in one batch), but through a
// CrdtStore: upstream's offline crdt state starts a DAG repair that reads
// the datastore after ImportState has closed it.
func (c crdtStateManager) Import(ctx context.Context, r io.Reader, opts api.PinOptions) error {
	if err := c.mgr.Clean(); err != nil {
		return fmt.Errorf("cleaning the crdt state before the import: %w", err)
	}
	return c.withStore(func(cs *CrdtStore) error {
		st, err := dsstate.NewBatching(ctx, cs.Datastore, "", dsstate.DefaultHandle())
		if err != nil {
			return fmt.Errorf("opening the crdt state: %w", err)
		}
		if _, err := importPins(ctx, r, st, opts); err != nil {
			return err
		}
		if err := st.Commit(ctx); err != nil {
			return fmt.Errorf("committing the import to the crdt state: %w", err)
		}
		return nil
	})
}

// withStore runs fn on the peer's CrdtStore, closed when fn returns.
func (c crdtStateManager) withStore(fn func(*CrdtStore) error) (err error) {
	cs, err := OpenCrdtStore(c.h)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := cs.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the crdt datastore: %w", cerr)
		}
	}()
	return fn(cs)
}

// exportPins writes the pins of st as NDJSON, as upstream's export.
func exportPins(ctx context.Context, st state.ReadOnly, w io.Writer) error {
	enc := json.NewEncoder(w)
	var encErr error
	err := pinset.Each(ctx, st, func(pin api.Pin) error {
		encErr = enc.Encode(pin)
		return encErr
	})
	if encErr != nil {
		return fmt.Errorf("writing the export: %w", encErr)
	}
	return err
}

// importPins reads a stream of JSON pins into st, applying the overrides
// of opts as upstream's import does, and returns how many it added.
func importPins(ctx context.Context, r io.Reader, st state.State, opts api.PinOptions) (int, error) {
	dec := json.NewDecoder(r)
	n := 0
	for {
		var pin api.Pin
		err := dec.Decode(&pin)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("reading pin #%d of the import: %w", n+1, err)
		}
		if !pin.Cid.Defined() {
			return n, fmt.Errorf("%w: pin #%d of the import has no \"cid\"", ErrBadImport, n+1)
		}
		if opts.ReplicationFactorMax > 0 {
			pin.ReplicationFactorMax = opts.ReplicationFactorMax
		}
		if opts.ReplicationFactorMin > 0 {
			pin.ReplicationFactorMin = opts.ReplicationFactorMin
		}
		if len(opts.UserAllocations) > 0 {
			// As upstream: allocations are set directly, since the
			// state does not go through the allocator.
			pin.Allocations = opts.UserAllocations
		}
		if err := st.Add(ctx, pin); err != nil {
			return n, fmt.Errorf("adding pin %s: %w", pin.Cid, err)
		}
		n++
		if n%100000 == 0 {
			logger.Infof("import: %d pins read", n)
		}
	}
}
