//go:build !scylla

package config

import (
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// scyllaSupported tells whether this build has the Scylla components.
const scyllaSupported = false

// scyllaConfigs is empty in builds without the scylla tag.
type scyllaConfigs struct{}

func newScyllaConfigs() scyllaConfigs { return scyllaConfigs{} }

func (c *scyllaConfigs) registerScylla(func(uconfig.SectionType, uconfig.ComponentConfig)) {}

func (c *scyllaConfigs) setScyllaTrust([]peer.ID, bool) {}
