package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

// crdtCommand is upstream's `state crdt`: offline commands on the crdt
// datastore of a stopped crdt peer. Scylla and raft peers have no crdt
// state: they are refused with the reason.
func crdtCommand(p *paths) *cli.Command {
	return &cli.Command{
		Name:  "crdt",
		Usage: "CRDT-state commands",
		Description: `
Offline commands on the CRDT datastore of a stopped crdt peer, as upstream.
A scylla peer has no CRDT state: its pinset is the shared one in Scylla.`,
		Subcommands: []*cli.Command{
			{
				Name:        "info",
				Usage:       "Print information about the CRDT store",
				Description: "\nThis commands prints basic information: current heads, dirty flag etc.",
				Action: func(c *cli.Context) error {
					return withCrdt(c.Context, p, func(ctx context.Context, cs *service.CrdtStore) error {
						info := cs.InternalStats(ctx)
						fmt.Printf("Number of heads: %d. Current max-height: %d. Dirty: %t\nHeads: %s\n",
							len(info.Heads), info.MaxHeight, cs.IsDirty(ctx), info.Heads)
						return nil
					})
				},
			},
			{
				Name:  "dot",
				Usage: "Write the CRDT-DAG as DOT file",
				Description: `
This command generates a DOT file representing the CRDT-DAG of this node.
The DOT file can then be visualized, converted to SVG etc.

This is a debugging command to visualize how the DAG looks like, whether there
is a lot of branching etc. large DAGs will generate large DOT files.
Use with caution!`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "writes to `FILE` instead of stdout"},
				},
				Action: func(c *cli.Context) error {
					return withCrdt(c.Context, p, func(ctx context.Context, cs *service.CrdtStore) error {
						return writeDot(ctx, cs, c.String("file"))
					})
				},
			},
			{
				Name:  "mark-dirty",
				Usage: "Marks the CRDT-store as dirty",
				Description: `
Marking the CRDT store as dirty will force-run a Repair operation on the next
run (i.e. next time the cluster peer is started).`,
				Action: func(c *cli.Context) error {
					return withCrdt(c.Context, p, func(ctx context.Context, cs *service.CrdtStore) error {
						cs.MarkDirty(ctx)
						if !cs.IsDirty(ctx) {
							return errors.New("the datastore could not be marked dirty (see the log)")
						}
						fmt.Println("Datastore marked 'dirty'")
						return nil
					})
				},
			},
			{
				Name:  "mark-clean",
				Usage: "Marks the CRDT-store as clean",
				Description: `
This command remove the dirty-mark on the CRDT-store, which means no
DAG operations will be run.`,
				Action: func(c *cli.Context) error {
					return withCrdt(c.Context, p, func(ctx context.Context, cs *service.CrdtStore) error {
						cs.MarkClean(ctx)
						if cs.IsDirty(ctx) {
							return errors.New("the datastore could not be marked clean (see the log)")
						}
						fmt.Println("Datastore marked 'clean'")
						return nil
					})
				},
			},
		},
	}
}

// withCrdt locks the folder, opens the crdt datastore of the stopped peer
// and runs fn on it.
func withCrdt(ctx context.Context, p *paths, fn func(context.Context, *service.CrdtStore) error) error {
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
	cs, err := service.OpenCrdtStore(h)
	if err != nil {
		return fmt.Errorf("state crdt: %w", err)
	}
	err = fn(ctx, cs)
	if cerr := cs.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the crdt datastore: %w", cerr)
	}
	return err
}

func writeDot(ctx context.Context, cs *service.CrdtStore, path string) error {
	var w io.Writer = os.Stdout
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			return fmt.Errorf("creating the output file: %w", err)
		}
		defer f.Close()
		w = f
	}
	buf := bufio.NewWriterSize(w, 1<<18)
	logger.Info("initiating CDRT-DAG DOT file export. Export might take a long time on large graphs")
	if err := cs.DotDAG(ctx, buf); err != nil {
		return fmt.Errorf("generating the graph: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("writing the graph: %w", err)
	}
	if f != nil {
		return f.Close()
	}
	return nil
}
