//go:build !scylla

package service

import (
	"context"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

func newScyllaStateManager(context.Context, *config.Configs, bool) (StateManager, error) {
	return nil, config.ErrNoScyllaSupport
}
