package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	"github.com/ipfs-cluster/ipfs-cluster/pstoremgr"
	peer "github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

func initCommand(p *paths) *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "Creates a configuration and generates an identity",
		ArgsUsage: "[http-source-url]",
		Description: `
Writes a default service.json and, when missing, identity.json, plus a
peerstore. With a source URL, service.json only refers to it and the daemon
fetches the configuration from there.

--datastore scylla writes a "scyllastate" section (state.scyllastate: hosts,
keyspace, consistency, TLS, credentials...) and selects the scylla consensus
(consensus.scylla); every peer of the cluster then shares one pinset in the
database. Environment variables (CLUSTER_SECRET, CLUSTER_SCYLLASTATE_HOSTS,
...) are applied and saved. --peers trusts only the given peers (crdt,
scylla) or sets the initial peerset (raft).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "consensus", Usage: "select consensus: 'crdt' (default), 'raft' or 'scylla' (implied by --datastore scylla)"},
			&cli.StringFlag{Name: "datastore", Usage: "select datastore: 'pebble' (default), 'badger3', 'badger', 'leveldb' or 'scylla' (shared pinset)"},
			&cli.BoolFlag{Name: "custom-secret", Aliases: []string{"s"}, Usage: "prompt for the cluster secret (when no source specified)"},
			&cli.StringFlag{Name: "peers", Usage: "comma-separated list of multiaddresses to init with (see help)"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "overwrite configuration without prompting"},
			&cli.BoolFlag{Name: "randomports", Usage: "configure random ports to listen on instead of defaults"},
		},
		Action: func(c *cli.Context) error { return runInit(c, p) },
	}
}

func runInit(c *cli.Context, p *paths) error {
	h, err := config.NewHelper(p.config, p.identity, c.String("consensus"), c.String("datastore"))
	if err != nil {
		return err
	}
	defer h.Manager().Shutdown()

	configExists, identityExists := exists(p.config), exists(p.identity)
	if configExists || identityExists {
		lk, err := lockFolder(p.folder)
		if err != nil {
			return err
		}
		defer lk.Close()
	}
	if configExists && !c.Bool("force") &&
		!yesNoPrompt(fmt.Sprintf("%s already exists and will be overwritten with a default configuration. Continue? [y/n]:", p.config)) {
		return nil
	}

	peerAddrs, err := parseMultiaddrs(c.String("peers"))
	if err != nil {
		return fmt.Errorf("--peers: %w", err)
	}

	man := h.Manager()
	man.Source = c.Args().First()
	if err := man.Default(); err != nil {
		return fmt.Errorf("generating the default configuration: %w", err)
	}
	if c.Bool("randomports") {
		if err := randomizePorts(h.Configs()); err != nil {
			return err
		}
	}
	if err := man.ApplyEnvVars(); err != nil {
		return fmt.Errorf("applying environment variables to the configuration: %w", err)
	}
	if c.Bool("custom-secret") && !c.Args().Present() {
		secret, err := ipfscluster.DecodeClusterSecret(promptUser("Enter cluster secret (32-byte hex string): "))
		if err != nil {
			return fmt.Errorf("parsing the cluster secret: %w", err)
		}
		h.Configs().Cluster.Secret = secret
	}
	if len(peerAddrs) > 0 {
		h.SetInitPeers(ipfscluster.PeersFromMultiaddrs(peerAddrs))
	}
	if err := man.Validate(); err != nil {
		return fmt.Errorf("the configuration is not valid (check the environment variables): %w", err)
	}
	if err := h.SaveConfigToDisk(); err != nil {
		return fmt.Errorf("saving the configuration: %w", err)
	}
	out("configuration written to %s.\n", p.config)
	if h.Consensus() == config.Scylla {
		out("the shared pinset is configured in the \"scyllastate\" section (hosts, keyspace, ...): edit it before starting the daemon.\n")
	}

	if !identityExists {
		ident := h.Identity()
		if err := ident.Default(); err != nil {
			return fmt.Errorf("generating an identity: %w", err)
		}
		if err := ident.ApplyEnvVars(); err != nil {
			return fmt.Errorf("applying environment variables to the identity: %w", err)
		}
		if err := h.SaveIdentityToDisk(); err != nil {
			return fmt.Errorf("saving %s: %w", defaultIdentityFile, err)
		}
		out("new identity written to %s\n", p.identity)
	}

	peerstorePath := h.Configs().Cluster.GetPeerstorePath()
	addrInfos, err := peer.AddrInfosFromP2pAddrs(peerAddrs...)
	if err != nil {
		return fmt.Errorf("--peers: %w", err)
	}
	if err := pstoremgr.New(context.Background(), nil, peerstorePath).SavePeerstore(addrInfos); err != nil {
		return fmt.Errorf("saving the peerstore: %w", err)
	}
	if len(peerAddrs) > 0 {
		out("peerstore written to %s with %d entries.\n", peerstorePath, len(peerAddrs))
	} else {
		out("new empty peerstore written to %s.\n", peerstorePath)
	}
	return nil
}

func randomizePorts(cfgs *config.Configs) error {
	var err error
	for _, addrs := range []*[]ma.Multiaddr{
		&cfgs.Cluster.ListenAddr, &cfgs.Restapi.HTTPListenAddr, &cfgs.Ipfsproxy.ListenAddr, &cfgs.Pinsvcapi.HTTPListenAddr,
	} {
		if *addrs, err = cmdutils.RandomizePorts(*addrs); err != nil {
			return fmt.Errorf("randomizing ports: %w", err)
		}
	}
	return nil
}

// parseMultiaddrs splits a comma-separated list of multiaddresses.
func parseMultiaddrs(list string) ([]ma.Multiaddr, error) {
	var addrs []ma.Multiaddr
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a multiaddress: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
