//go:build scylla

package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/informer/scyllahealth"
)

// disabledInterval stands for "never": upstream's cluster loops that the
// scylla consensus replaces run at this interval.
const disabledInterval = 100 * 365 * 24 * time.Hour

func newScyllaConsensus(h *config.Helper, host host.Host, psub *pubsub.PubSub) (*consensus, error) {
	cfgs := h.Configs()
	// The consensus replaces upstream's StateSync and periodic
	// RecoverAllLocal, which scan the whole shared pinset, with an expiry
	// index and paced, sliced recover passes at the configured intervals.
	cfgs.Scylla.StateSyncInterval = cfgs.Cluster.StateSyncInterval
	cfgs.Scylla.PinRecoverInterval = cfgs.Cluster.PinRecoverInterval
	if cfgs.Metrics.EnableStats {
		if err := scyllacons.UseStoredPinErrorGauge(); err != nil {
			return nil, err
		}
	}
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
	peerName := cfgs.Cluster.Peername
	wrap := func(t ipfscluster.PinTracker) ipfscluster.PinTracker { return c.WrapTracker(t, peerName) }
	// A cluster-wide status --filter error is read from the database
	// (see Consensus.WrapAPI).
	follower := cfgs.Cluster.FollowerMode
	wrapREST := func(a ipfscluster.API) ipfscluster.API { return c.WrapAPI(a, follower, peerName) }
	cons := &consensus{Consensus: c, fatal: c.Fatal(), wrapTracker: wrap, wrapREST: wrapREST}
	if h.Manager().IsLoadedFromJSON(uconfig.Informer, scyllahealth.ConfigKey) {
		inf, err := scyllahealth.New(cfgs.ScyllaHealthInf, databaseHealth(c))
		if err != nil {
			_ = c.Shutdown(context.Background())
			return nil, fmt.Errorf("creating the scyllahealth informer: %w", err)
		}
		cons.informers = append(cons.informers, inf)
	}
	return cons, nil
}

// databaseHealth is the probe of the scyllahealth informer.
func databaseHealth(c *scyllacons.Consensus) scyllahealth.Probe {
	return func() scyllahealth.Health {
		err := c.DatabaseHealth()
		return scyllahealth.Health{Starting: errors.Is(err, scyllacons.ErrStarting), Err: err}
	}
}
