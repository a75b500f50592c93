//go:build scylla

package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// scyllaTarget writes a migration into the shared pinset through a batch
// of the store: bounded by its batch_size, written write_concurrency at
// a time, through the change feed (running peers follow).
type scyllaTarget struct {
	*scyllastate.ScyllaState
	batch *scyllastate.BatchingState
}

func newMigrateTarget(ctx context.Context, cfgs *config.Configs) (migrateTarget, error) {
	st, err := scyllastate.New(ctx, cfgs.ScyllaState)
	if err != nil {
		return nil, err
	}
	return &scyllaTarget{ScyllaState: st, batch: st.Batch()}, nil
}

func (t *scyllaTarget) Add(ctx context.Context, pin api.Pin) error { return t.batch.Add(ctx, pin) }
func (t *scyllaTarget) Commit(ctx context.Context) error           { return t.batch.Commit(ctx) }
func (t *scyllaTarget) BatchSize() int                             { return t.Config().BatchSize }
func (t *scyllaTarget) Concurrency() int                           { return t.Config().WriteConcurrency }

func (t *scyllaTarget) Describe() string {
	cfg := t.Config()
	return fmt.Sprintf("keyspace %q on %s", cfg.Keyspace, strings.Join(cfg.Hosts, ","))
}

func scyllaKeyspace(cfgs *config.Configs) string { return cfgs.ScyllaState.Keyspace }
