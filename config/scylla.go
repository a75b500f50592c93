//go:build scylla

package config

import (
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
	peer "github.com/libp2p/go-libp2p/core/peer"

	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/informer/scyllahealth"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// scyllaSupported tells whether this build has the Scylla components.
const scyllaSupported = true

// scyllaConfigs are the configurations of the Scylla components.
type scyllaConfigs struct {
	// ScyllaState is state.scyllastate: the database connection.
	ScyllaState *scyllastate.Config
	// Scylla is consensus.scylla: the change feed, trust and start.
	Scylla *scyllacons.Config
	// ScyllaHealthInf is informer.scyllahealth: the "scylla" metric.
	ScyllaHealthInf *scyllahealth.Config
}

func newScyllaConfigs() scyllaConfigs {
	return scyllaConfigs{ScyllaState: &scyllastate.Config{}, Scylla: &scyllacons.Config{}, ScyllaHealthInf: &scyllahealth.Config{}}
}

func (c *scyllaConfigs) registerScylla(reg func(uconfig.SectionType, uconfig.ComponentConfig)) {
	reg(uconfig.State, c.ScyllaState)
	reg(uconfig.Consensus, c.Scylla)
	reg(uconfig.Informer, c.ScyllaHealthInf)
}

// setScyllaTrust trusts pids in consensus.scylla; replace trusts only
// them.
func (c *scyllaConfigs) setScyllaTrust(pids []peer.ID, replace bool) {
	if replace {
		c.Scylla.TrustAll = false
		c.Scylla.TrustedPeers = append([]peer.ID(nil), pids...)
		return
	}
	c.Scylla.TrustedPeers = append(c.Scylla.TrustedPeers, pids...)
}
