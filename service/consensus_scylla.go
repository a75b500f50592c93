//go:build scylla

package service

import (
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
)

// disabledInterval stands for "never": upstream's cluster loops that the
// scylla consensus replaces run at this interval.
const disabledInterval = 100 * 365 * 24 * time.Hour

func newScyllaConsensus(cfgs *config.Configs, host host.Host, psub *pubsub.PubSub) (*consensus, error) {
	// The consensus replaces upstream's StateSync and periodic
	// RecoverAllLocal, which scan the whole shared pinset, with an expiry
	// index and paced, sliced recover passes at the configured intervals.
	cfgs.Scylla.StateSyncInterval = cfgs.Cluster.StateSyncInterval
	cfgs.Scylla.PinRecoverInterval = cfgs.Cluster.PinRecoverInterval
	c, err := scyllacons.New(host, psub, cfgs.Scylla, cfgs.ScyllaState)
	if err != nil {
		return nil, err
	}
	cfgs.Cluster.StateSyncInterval = disabledInterval
	cfgs.Cluster.PinRecoverInterval = disabledInterval
	// The consensus ends its own start after ready_timeout and reports
	// why on Fatal; upstream's cluster must not time out first: its
	// ready() calls Shutdown from inside the WaitGroup that Shutdown
	// waits for, and the process would hang.
	ipfscluster.ReadyTimeout = cfgs.Scylla.ReadyTimeout + time.Minute
	// Peers come from the monitor's metrics: the monitor must not ask
	// the consensus back (peersF nil), as with crdt.
	return &consensus{Consensus: c, fatal: c.Fatal(), wrapTracker: scyllacons.WrapTracker}, nil
}
