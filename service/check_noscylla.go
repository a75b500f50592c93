//go:build !scylla

package service

import (
	"context"
	"io"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// CheckScylla needs the Scylla components, which this build lacks.
func CheckScylla(context.Context, string, string, CheckOptions, io.Writer) (int, error) {
	return 1, config.ErrNoScyllaSupport
}
