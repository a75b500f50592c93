package service

import (
	"context"
	"fmt"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	"github.com/ipfs-cluster/ipfs-cluster/consensus/crdt"
	"github.com/ipfs-cluster/ipfs-cluster/consensus/raft"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/inmem"
	ds "github.com/ipfs/go-datastore"
	dual "github.com/libp2p/go-libp2p-kad-dht/dual"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// consensus is the chosen consensus component and how the peer uses it.
type consensus struct {
	ipfscluster.Consensus
	// fatal receives an error that ends the start (scylla only).
	fatal <-chan error
	// wrapTracker, when set, wraps the pin tracker given to the cluster.
	wrapTracker func(ipfscluster.PinTracker) ipfscluster.PinTracker
	// wrapREST, when set, wraps the REST API given to the cluster.
	wrapREST func(ipfscluster.API) ipfscluster.API
	// peersF is given to the peer monitor: nil for consensus components
	// whose Peers come from the monitor's own metrics.
	peersF func(context.Context) ([]peer.ID, error)
	// informers are informers that report on the consensus (scylla:
	// the "scylla" database health metric).
	informers []ipfscluster.Informer
}

func newConsensus(h *config.Helper, host host.Host, dht *dual.DHT, psub *pubsub.PubSub, store ds.Datastore, raftStaging bool) (*consensus, error) {
	cfgs := h.Configs()
	switch h.Consensus() {
	case config.Raft:
		c, err := raft.NewConsensus(host, cfgs.Raft, store, raftStaging)
		if err != nil {
			return nil, err
		}
		ipfscluster.ReadyTimeout = cfgs.Raft.WaitForLeaderTimeout + 5*time.Second
		return &consensus{Consensus: c, peersF: c.Peers}, nil
	case config.Crdt:
		c, err := crdt.New(host, dht, psub, cfgs.Crdt, store)
		if err != nil {
			return nil, err
		}
		// As upstream: crdt migrations may take long.
		ipfscluster.ReadyTimeout = 356 * 24 * time.Hour
		return &consensus{Consensus: c}, nil
	case config.Scylla:
		return newScyllaConsensus(h, host, psub)
	}
	return nil, fmt.Errorf("%w: unknown consensus %q", config.ErrBadCombination, h.Consensus())
}

// newDatastore returns the peer's local datastore: the crdt replica, or
// an in-memory store (raft keeps its own; scylla keeps the pinset in the
// database) that only the DHT uses.
func newDatastore(h *config.Helper) (ds.Datastore, error) {
	if h.Consensus() == config.Scylla {
		return inmem.New(), nil
	}
	mgr, err := cmdutils.NewStateManager(h.Consensus(), h.Datastore(), h.Identity(), h.Configs().Configs)
	if err != nil {
		return nil, err
	}
	return mgr.GetStore()
}
