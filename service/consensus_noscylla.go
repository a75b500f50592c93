//go:build !scylla

package service

import (
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	host "github.com/libp2p/go-libp2p/core/host"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

func newScyllaConsensus(*config.Helper, host.Host, *pubsub.PubSub) (*consensus, error) {
	return nil, config.ErrNoScyllaSupport
}
