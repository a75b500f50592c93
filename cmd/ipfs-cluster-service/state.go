package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

func stateCommand(p *paths) *cli.Command {
	force := &cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "skip the confirmation prompt"}
	return &cli.Command{
		Name:  "state",
		Usage: "Manages the peer's consensus state (pinset)",
		Subcommands: []*cli.Command{
			crdtCommand(p),
			{
				Name:  "export",
				Usage: "save the state to a JSON file",
				Description: `
Writes every pin of the pinset, one JSON object per line, to stdout or to
--file. With --datastore scylla it reads the shared pinset.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "writes to an output `FILE` instead of stdout"},
				},
				Action: func(c *cli.Context) error { return runExport(c, p) },
			},
			{
				Name:      "import",
				Usage:     "load the state from a file produced by 'export'",
				ArgsUsage: "[FILE]",
				Description: `
Reads an exported pinset from FILE (or stdin). With crdt and raft it replaces
this peer's pinset, as upstream. With scylla it adds the pins to the shared
pinset (replacing pins of the same CID) and keeps the others; running peers
pin them. Progress is shown on a terminal.`,
				Flags: []cli.Flag{
					force,
					&cli.IntFlag{Name: "replication-min", Aliases: []string{"rmin"}, Usage: "Overwrite replication-factor-min for all pins on import"},
					&cli.IntFlag{Name: "replication-max", Aliases: []string{"rmax"}, Usage: "Overwrite replication-factor-max for all pins on import"},
					&cli.StringFlag{Name: "allocations", Aliases: []string{"allocs"}, Usage: "Overwrite allocations for all pins on import. Comma-separated list of peer IDs"},
				},
				Action: func(c *cli.Context) error { return runImport(c, p) },
			},
			{
				Name:  "cleanup",
				Usage: "remove persistent data",
				Description: `
With crdt and raft: removes this peer's consensus data and pinset, as
upstream. With scylla: removes every pin of the SHARED pinset, for every
peer of the cluster (running peers unpin them). That needs
--confirm-keyspace naming the configured keyspace, or typing it at the
prompt.`,
				Flags: []cli.Flag{
					force,
					&cli.StringFlag{Name: "confirm-keyspace", Usage: "with scylla: the keyspace whose shared pinset is wiped (must match the configuration)"},
				},
				Action: func(c *cli.Context) error { return runCleanup(c, p) },
			},
			migrateCommand(p),
		},
	}
}

// openState locks the folder, loads the configuration and opens the
// state manager of the configured backend. With existing (export,
// cleanup), a scylla keyspace without a pinset is an error, not created.
func openState(ctx context.Context, p *paths, existing bool) (service.StateManager, func(), error) {
	lk, err := lockFolder(p.folder)
	if err != nil {
		return nil, nil, err
	}
	h, err := config.NewLoadedHelper(p.config, p.identity)
	if err != nil {
		lk.Close()
		return nil, nil, err
	}
	h.Manager().Shutdown()
	open := service.NewStateManager
	if existing {
		open = service.OpenStateManager
	}
	mgr, err := open(ctx, h)
	if err != nil {
		lk.Close()
		return nil, nil, fmt.Errorf("opening the %s state: %w", h.Consensus(), err)
	}
	return mgr, func() { _ = mgr.Close(); lk.Close() }, nil
}

func runExport(c *cli.Context, p *paths) error {
	mgr, done, err := openState(c.Context, p, true)
	if err != nil {
		return err
	}
	defer done()
	var w io.Writer = os.Stdout
	if path := c.String("file"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("creating the export file: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	pw := newProgressWriter(bw, "exported")
	err = mgr.Export(c.Context, pw)
	pw.finish()
	if err != nil {
		return fmt.Errorf("exporting the state: %w", err)
	}
	return bw.Flush()
}

func runImport(c *cli.Context, p *paths) error {
	mgr, done, err := openState(c.Context, p, false)
	if err != nil {
		return err
	}
	defer done()
	prompt := "The pinset (state) of this peer will be replaced. Continue? [y/n]:"
	if ks := mgr.Shared(); ks != "" {
		prompt = fmt.Sprintf("The pins of the file will be added to the shared pinset of keyspace %q, used by every peer. Continue? [y/n]:", ks)
	}
	if !c.Bool("force") && !yesNoPrompt(prompt) {
		return nil
	}
	opts := api.PinOptions{
		ReplicationFactorMin: c.Int("replication-min"),
		ReplicationFactorMax: c.Int("replication-max"),
	}
	if allocs := c.String("allocations"); allocs != "" {
		opts.UserAllocations = api.StringsToPeers(strings.Split(allocs, ","))
	}
	var r io.Reader = os.Stdin
	var size int64
	if path := c.Args().First(); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("opening the import file: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		r = f
	} else {
		out("reading from stdin, Ctrl-D to finish\n")
	}
	// Check the whole file first: a malformed one is refused before
	// anything is written (crdt and raft would already have emptied
	// their pinset).
	rs, cleanup, err := service.Seekable(r)
	if err != nil {
		return err
	}
	defer cleanup()
	cr := newProgressReader(bufio.NewReader(rs), size, "checking the import")
	pins, err := service.CheckImport(cr)
	cr.finish()
	if err != nil {
		return fmt.Errorf("nothing imported: %w", err)
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading the import again: %w", err)
	}
	logger.Infof("import file checked: %d pins", pins)
	pr := newProgressReader(bufio.NewReader(rs), size, "import")
	err = mgr.Import(c.Context, pr, opts)
	pr.finish()
	if err != nil {
		return fmt.Errorf("importing the state: %w", err)
	}
	logger.Info("state successfully imported")
	return nil
}

func runCleanup(c *cli.Context, p *paths) error {
	mgr, done, err := openState(c.Context, p, true)
	if err != nil {
		return err
	}
	defer done()
	if ks := mgr.Shared(); ks != "" {
		confirm := c.String("confirm-keyspace")
		if confirm == "" && !c.Bool("force") {
			confirm = promptUser(fmt.Sprintf("This removes EVERY pin of the whole cluster from keyspace %q. Type the keyspace name to confirm: ", ks))
		}
		if err := service.CheckCleanupConfirmation(mgr, confirm); err != nil {
			return err
		}
	} else if !c.Bool("force") && !yesNoPrompt("This peer's consensus data and pinset will be removed. Continue? [y/n]:") {
		return nil
	}
	if err := mgr.Cleanup(c.Context); err != nil {
		return fmt.Errorf("cleaning the state: %w", err)
	}
	logger.Info("data correctly cleaned up")
	return nil
}
