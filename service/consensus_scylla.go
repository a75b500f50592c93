//go:build scylla

package service

import (
	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
)

func newScyllaConsensus(cfgs *config.Configs, host host.Host, psub *pubsub.PubSub) (*consensus, error) {
	c, err := scyllacons.New(host, psub, cfgs.Scylla, cfgs.ScyllaState)
	if err != nil {
		return nil, err
	}
	ipfscluster.ReadyTimeout = cfgs.Scylla.ReadyTimeout
	// Peers come from the monitor's metrics: the monitor must not ask
	// the consensus back (peersF nil), as with crdt.
	return &consensus{Consensus: c, fatal: c.Fatal()}, nil
}
