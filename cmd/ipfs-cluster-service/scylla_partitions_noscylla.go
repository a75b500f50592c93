//go:build !scylla

package main

import (
	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// runEventPartitions needs the Scylla components, which this build lacks.
func runEventPartitions(*cli.Context, *paths) error {
	return config.ErrNoScyllaSupport
}
