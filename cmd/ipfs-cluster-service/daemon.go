package main

import (
	"fmt"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/consensus/raft"
	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

func daemonCommand(p *paths) *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "Runs the IPFS Cluster peer (default)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "upgrade", Aliases: []string{"u"}, Usage: "deprecated, does nothing", Hidden: true},
			&cli.StringFlag{Name: "bootstrap", Aliases: []string{"j"}, Usage: "join a cluster providing a comma-separated list of existing peers multiaddress(es)"},
			&cli.BoolFlag{Name: "leave", Aliases: []string{"x"}, Usage: "remove peer from cluster on exit (never removes the shared pinset)", Hidden: true},
			&cli.BoolFlag{Name: "stats", Usage: "enable stats collection"},
			&cli.BoolFlag{Name: "tracing", Usage: "enable tracing collection"},
			&cli.BoolFlag{Name: "no-trust", Usage: "do not trust bootstrap peers (crdt and scylla)"},
		},
		Action: func(c *cli.Context) error { return runDaemon(c, p) },
	}
}

func runDaemon(c *cli.Context, p *paths) error {
	bootstrap, err := parseMultiaddrs(c.String("bootstrap"))
	if err != nil {
		return fmt.Errorf("--bootstrap: %w", err)
	}
	lk, err := lockFolder(p.folder)
	if err != nil {
		return err
	}
	defer lk.Close()

	h, err := config.NewLoadedHelper(p.config, p.identity)
	if err != nil {
		return err
	}
	defer h.Manager().Shutdown()

	opts := service.Options{Stats: c.Bool("stats"), Tracing: c.Bool("tracing"), Leave: c.Bool("leave")}
	switch h.Consensus() {
	case config.Raft:
		if len(bootstrap) > 0 {
			// As upstream: a raft peer joining starts from a clean state.
			if err := raft.CleanupRaft(h.Configs().Raft); err != nil {
				return fmt.Errorf("cleaning the raft state before bootstrapping: %w", err)
			}
			opts.RaftStaging = true
		}
	default:
		if !c.Bool("no-trust") {
			h.AddTrustedPeers(ipfscluster.PeersFromMultiaddrs(bootstrap))
		}
	}
	logger.Infof("consensus: %s, datastore: %s", h.Consensus(), h.Datastore())
	return service.Run(h, opts, bootstrap)
}
