//go:build scylla

package service

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service/scyllacheck"
)

// CheckScylla runs `scylla check` on the peer configured in configPath
// (with its CLUSTER_* environment overrides) and writes the report to w,
// as text or JSON. It returns the exit status: 0 for OK (and WARN unless
// o.Strict), 1 for FAIL, 2 for WARN with o.Strict. It never writes to the
// database and takes no lock: it runs next to a running peer. A
// configuration that cannot be loaded is reported as a failure.
func CheckScylla(ctx context.Context, configPath, identityPath string, o CheckOptions, w io.Writer) (int, error) {
	report := checkReport(ctx, configPath, identityPath, o)
	var err error
	if o.JSON {
		err = report.WriteJSON(w)
	} else {
		err = report.WriteText(w, o.Colour)
	}
	if err != nil {
		return scyllacheck.ExitFail, fmt.Errorf("writing the report: %w", err)
	}
	return report.ExitCode(o.Strict), nil
}

func checkReport(ctx context.Context, configPath, identityPath string, o CheckOptions) *scyllacheck.Report {
	h, err := config.NewLoadedHelper(configPath, identityPath)
	if err != nil {
		return scyllacheck.ConfigFailure(time.Now(), err,
			"fix the configuration (see the error), or point --config at the peer's folder")
	}
	h.Manager().Shutdown()
	if h.Consensus() != config.Scylla {
		return scyllacheck.ConfigFailure(time.Now(),
			fmt.Errorf("%s configures the %s consensus, not scylla", configPath, h.Consensus()),
			"scylla check diagnoses peers initialised with `init --datastore scylla`")
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	if o.Reads <= 0 {
		o.Reads = DefaultCheckReads
	}
	if o.FeedWindow <= 0 {
		o.FeedWindow = DefaultCheckFeedWindow
	}
	cfgs := h.Configs()
	return scyllacheck.Check(ctx, scyllacheck.Options{
		State:      cfgs.ScyllaState,
		Feed:       cfgs.Scylla,
		Self:       h.Identity().ID.String(),
		Reads:      o.Reads,
		FeedWindow: o.FeedWindow,
	})
}
