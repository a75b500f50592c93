// The ipfs-cluster-service command runs an IPFS Cluster peer. It is
// upstream's command with one more backend: `--datastore scylla` keeps the
// cluster's pinset once, in ScyllaDB or Cassandra, shared by every peer
// (builds with the "scylla" build tag).
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	semver "github.com/blang/semver"
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/ipfs-cluster/ipfs-cluster/version"
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

const programName = "ipfs-cluster-service"

// Files in the configuration folder.
const (
	defaultFolder       = ".ipfs-cluster"
	defaultConfigFile   = "service.json"
	defaultIdentityFile = "identity.json"
)

// commit is set at build time: -ldflags "-X main.commit=$(git rev-parse HEAD)".
var commit string

var logger = logging.Logger("service")

func init() {
	// Upstream's config manager waits for one tick of its save interval
	// (1s) when it shuts down, which every command does. Nothing saves
	// the configuration in the background (no component calls
	// NotifySave in v1.1.5), so a short interval only makes commands
	// return sooner.
	uconfig.ConfigSaveInterval = 50 * time.Millisecond
}

// paths are the files the commands work on, set by the global flags.
type paths struct {
	folder, config, identity string
}

func main() {
	if build, err := semver.NewBuildVersion(commit); err == nil && commit != "" {
		version.Version.Build = []string{"git" + build}
	}
	slog.SetDefault(slog.New(logging.SlogHandler()))
	gologshim.SetDefaultHandler(logging.SlogHandler())

	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "error: %s\n", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	p := &paths{}
	return &cli.App{
		Name:        programName,
		Usage:       "IPFS Cluster peer",
		Description: description,
		Version:     version.Version.String(),
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "config",
				Aliases: []string{"c"},
				Value:   defaultPath(),
				Usage:   "path to the configuration and data `FOLDER`",
				EnvVars: []string{"IPFS_CLUSTER_PATH"},
			},
			// As upstream: accepted before the command and never read;
			// init, state import and state cleanup take their own -f
			// (state export's -f is --file).
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "forcefully proceed with some actions. i.e. overwriting configuration"},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Usage: "enable full debug logging (very verbose)"},
			&cli.StringFlag{
				Name:    "loglevel",
				Aliases: []string{"l"},
				EnvVars: []string{"IPFS_CLUSTER_LOG_LEVEL"},
				Usage:   "set overall and component-wise log levels (\"info\", \"service:debug,scyllastate:info\")",
			},
		},
		Before: func(c *cli.Context) error {
			abs, err := filepath.Abs(c.String("config"))
			if err != nil {
				return err
			}
			p.folder = abs
			p.config = filepath.Join(abs, defaultConfigFile)
			p.identity = filepath.Join(abs, defaultIdentityFile)
			return service.SetupLogLevel(c.Bool("debug"), c.String("loglevel"))
		},
		Commands: []*cli.Command{
			initCommand(p),
			daemonCommand(p),
			stateCommand(p),
			scyllaCommand(p),
			{
				Name:  "version",
				Usage: "Prints the ipfs-cluster version",
				Action: func(c *cli.Context) error {
					fmt.Println(version.Version)
					return nil
				},
			},
		},
		// As upstream, no command shows the help and fails.
		Action: func(c *cli.Context) error {
			_ = cli.ShowAppHelp(c)
			return errors.New("no command given")
		},
	}
}

func defaultPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return defaultFolder
	}
	return filepath.Join(home, defaultFolder)
}

func out(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format, args...)
}

const description = `
ipfs-cluster-service runs an IPFS Cluster peer: it orchestrates pinning for
a swarm of IPFS daemons. This build can keep the cluster's pinset once, in
ScyllaDB or Apache Cassandra, shared by every peer:

  ipfs-cluster-service init --datastore scylla
  (edit the "scyllastate" section of service.json: hosts, keyspace, ...)
  ipfs-cluster-service daemon

Other peers join by using the same secret and scyllastate section; a new
peer is in sync as soon as it connects. crdt and raft work as upstream.

The configuration lives in ~/.ipfs-cluster (--config, IPFS_CLUSTER_PATH).
Use ipfs-cluster-ctl to interact with a running peer.
`
