//go:build !scylla

package main

import (
	"errors"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

func TestScyllaEventPartitionsNeedsTheScyllaTag(t *testing.T) {
	for _, args := range [][]string{{}, {"8"}} {
		err := run(t, append([]string{"-c", t.TempDir(), "scylla", "event-partitions"}, args...)...)
		if !errors.Is(err, config.ErrNoScyllaSupport) {
			t.Errorf("%v without the scylla tag: want ErrNoScyllaSupport, got %v", args, err)
		}
	}
}
