package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	cli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

func migrateCommand(p *paths) *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "copy the pinset of a stopped crdt or raft peer into the shared Scylla pinset",
		Description: `
Reads the pinset of a STOPPED crdt (pebble, badger3, badger, leveldb) or
raft peer, whose configuration folder is given with --from, and writes it
into the shared Scylla pinset configured in this folder (--config, made by
'init --datastore scylla'), in batches of the store's batch_size (1000 at
most). Then it re-reads the source and checks every pin in Scylla, prints
the counts and exits 1 if any pin is missing or different. Progress is
drawn on a terminal, logged otherwise.

The source is never modified: its datastore folder (crdt) or raft snapshots
are copied to a temporary folder under --work-dir, read there and removed;
that needs as much free space as they take. Writes are upserts: running the
command again after an interruption finishes the job, without duplicates.
Pins of the keyspace that the source lacks are kept. A raft peer's state is
its last snapshot, taken when the peer stops cleanly.

The way back (Scylla to crdt or raft): 'state export' here, then
'state import' on a stopped crdt or raft peer.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Required: true, Usage: "configuration `FOLDER` of the stopped crdt or raft peer to read"},
			&cli.StringFlag{Name: "work-dir", Usage: "`FOLDER` for the temporary copy of the source data (default: $TMPDIR or /tmp)"},
		},
		Action: func(c *cli.Context) error { return runMigrate(c, p) },
	}
}

func runMigrate(c *cli.Context, p *paths) error {
	from, err := filepath.Abs(c.String("from"))
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if from == p.folder {
		return fmt.Errorf("--from %s is the folder of --config: give the folder of the old crdt or raft peer", from)
	}
	lk, err := lockFolder(p.folder)
	if err != nil {
		return err
	}
	defer lk.Close()
	dst, err := config.NewLoadedHelper(p.config, p.identity)
	if err != nil {
		return err
	}
	defer dst.Manager().Shutdown()
	src, err := config.NewLoadedHelper(filepath.Join(from, defaultConfigFile), filepath.Join(from, defaultIdentityFile))
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Manager().Shutdown()

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := service.MigrateOptions{WorkDir: c.String("work-dir")}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		opts.Progress = &phaseBar{}
	}
	rep, err := service.Migrate(ctx, src, dst, opts)
	printMigrateReport(rep, from)
	if errors.Is(ctx.Err(), context.Canceled) && c.Context.Err() == nil {
		return fmt.Errorf("interrupted: run the same command again to finish (%w)", err)
	}
	return err
}

func printMigrateReport(rep *service.MigrateReport, from string) {
	if rep == nil || rep.Source == "" {
		return
	}
	fmt.Printf("source:   the %s state of %s (%s, %.1f MiB copied and read)\n",
		rep.Source, from, rep.SourceData, float64(rep.SourceBytes)/(1<<20))
	fmt.Printf("target:   %s\n", rep.Target)
	fmt.Printf("pins:     %d in the source, %d written\n", rep.Pins, rep.Written)
	if rep.Present+rep.Missing+rep.Different > 0 || rep.Pins == 0 {
		fmt.Printf("verified: %d present and equal, %d missing, %d different\n", rep.Present, rep.Missing, rep.Different)
	}
	for _, e := range rep.Examples {
		fmt.Printf("          %s\n", e)
	}
	if rep.TargetPins >= 0 {
		fmt.Printf("keyspace: %d pins in all\n", rep.TargetPins)
	}
}
