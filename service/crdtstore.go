package service

import (
	"context"
	"errors"
	"fmt"

	ipfslite "github.com/hsanjuan/ipfs-lite"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	"github.com/ipfs-cluster/ipfs-cluster/consensus/crdt"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dscrdt "github.com/ipfs/go-ds-crdt"
	logging "github.com/ipfs/go-log/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// ErrNotCrdt is returned by the `state crdt` commands on a peer that does
// not use the crdt consensus.
var ErrNotCrdt = errors.New("not a crdt peer")

// CrdtStore is the go-ds-crdt datastore of a stopped crdt peer, opened
// offline and without the background DAG repair, as upstream's `state
// crdt` commands open it. Close it to release the peer's datastore.
//
// Unlike upstream's, which leaves everything running until the process
// exits, it starts no goroutine that it cannot stop and wait for: Close
// returns only when nothing uses the peer's datastore any more, and then
// closes it.
type CrdtStore struct {
	*dscrdt.Datastore
	dag    *ipfslite.Peer
	store  ds.Datastore
	cancel context.CancelFunc
}

// OpenCrdtStore opens the crdt datastore of the peer configured in h, which
// must be stopped (the caller holds its folder's lock). It fails with
// ErrNotCrdt for raft and scylla peers.
func OpenCrdtStore(h *config.Helper) (*CrdtStore, error) {
	switch h.Consensus() {
	case config.Crdt:
	case config.Scylla:
		return nil, fmt.Errorf("%w: this peer uses the scylla consensus: its pinset is the shared one in keyspace %q "+
			"and there is no crdt state (no DAG, heads or dirty flag); use `state export` to read the pinset",
			ErrNotCrdt, scyllaKeyspace(h.Configs()))
	default:
		return nil, fmt.Errorf("%w: this peer uses the %s consensus: crdt subcommands can only be run on peers initialized with crdt consensus",
			ErrNotCrdt, h.Consensus())
	}
	mgr, err := cmdutils.NewStateManager(h.Consensus(), h.Datastore(), h.Identity(), h.Configs().Configs)
	if err != nil {
		return nil, err
	}
	store, err := mgr.GetStore()
	if err != nil {
		return nil, fmt.Errorf("opening the %s datastore: %w", h.Datastore(), err)
	}
	c, err := openCrdtOn(store, h.Configs().Crdt)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return c, nil
}

// openCrdtOn builds the crdt datastore over store (which it then owns),
// as upstream's crdt.OfflineState does, but closable and without repair.
//
// The DAG's blockstore is uncached: ipfs-lite's default cache fills its
// bloom filter from a goroutine that queries every block key of store and
// that nothing can wait for (cancelling its context only makes it stop
// reading the results). Closing store under that query is a data race
// (and pebble's "close requested" error); for these one-shot offline
// commands the cache would only cost that full scan of the blocks.
func openCrdtOn(store ds.Datastore, cfg *crdt.Config) (*CrdtStore, error) {
	batching, ok := store.(ds.Batching)
	if !ok {
		return nil, errors.New("the crdt datastore must be batching")
	}
	ns := ds.NewKey(cfg.DatastoreNamespace)
	ctx, cancel := context.WithCancel(context.Background())
	dag, err := ipfslite.New(ctx, namespace.Wrap(batching, ns.ChildString(crdt.BlocksNs)), nil, nil, nil,
		&ipfslite.Config{Offline: true, UncachedBlockstore: true})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating the offline ipfs-lite node of the crdt DAG: %w", err)
	}
	opts := dscrdt.DefaultOptions()
	opts.Logger = logging.Logger("crdt")
	opts.RepairInterval = 0
	d, err := dscrdt.New(batching, ns, dag, nil, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening the crdt datastore: %w", err)
	}
	return &CrdtStore{Datastore: d, dag: dag, store: store, cancel: cancel}, nil
}

// State returns the pinset held by the crdt datastore (upstream's
// dsstate over it, as the crdt consensus reads it).
func (c *CrdtStore) State(ctx context.Context) (state.State, error) {
	return dsstate.New(ctx, c.Datastore, "", dsstate.DefaultHandle())
}

// Close releases the peer's datastore, in the order upstream's crdt
// consensus shuts down and with each step finished before the next: the
// crdt datastore (which cancels its workers and waits for them), then the
// DAG service over the blocks, and only then the peer's datastore, which
// nothing uses any more.
func (c *CrdtStore) Close() error {
	err := c.Datastore.Close()
	if err != nil {
		err = fmt.Errorf("stopping go-ds-crdt: %w", err)
	}
	// The offline node's own closing (on cancel) runs in a goroutine that
	// cannot be waited for: close its block service here first, so that it
	// is done before the store goes; closing it twice is harmless.
	if berr := c.dag.BlockService().Close(); berr != nil && err == nil {
		err = fmt.Errorf("closing the block service of the crdt DAG: %w", berr)
	}
	c.cancel()
	if serr := c.store.Close(); serr != nil && err == nil {
		err = fmt.Errorf("closing the peer's datastore: %w", serr)
	}
	return err
}
