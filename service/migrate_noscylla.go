//go:build !scylla

package service

import (
	"context"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

func newMigrateTarget(context.Context, *config.Configs) (migrateTarget, error) {
	return nil, config.ErrNoScyllaSupport
}

func scyllaKeyspace(*config.Configs) string { return "" }
