package main

import (
	"os"
	"time"

	cli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

func scyllaCommand(p *paths) *cli.Command {
	return &cli.Command{
		Name:  "scylla",
		Usage: "Diagnoses the ScyllaDB/Cassandra database of a scylla peer (check) and sets its change feed layout (event-partitions)",
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "check the database, read-only: hosts, TLS, login, replication, schema, latency, change feed",
				Description: `
Reads the state.scyllastate section of service.json (with the CLUSTER_*
environment overrides) and reports, one line per finding (OK, INFO, WARN,
FAIL, with a hint for WARN and FAIL):

  hosts     each contact point: TCP, TLS handshake, login, data center,
            release, clock
  cluster   the nodes and data centers, schema agreement, local_dc
  keyspace  its replication against the nodes, data centers and the
            configured consistency levels
  schema    the tables, the schema version against this build,
            event_retention against gc_grace_seconds
  reads     the latency of a few reads of a pin row at the configured
            consistency
  feed      the newest change, every peer's feed position (how far behind)
            and writers that died without closing

It never writes: it creates no keyspace or table, records no heartbeat and
changes no pin, and it takes no lock, so it runs next to a running peer.
The last line is the verdict. Exit status: 0 for OK or WARN, 1 for FAIL,
2 for WARN with --strict. --json writes the report as JSON (see
docs/troubleshooting.md for its fields and for what each finding means).`,
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "json", Usage: "write the report as JSON"},
					&cli.BoolFlag{Name: "strict", Usage: "fail on warnings too (exit status 2)"},
					&cli.IntFlag{Name: "reads", Value: service.DefaultCheckReads, Usage: "number of reads of the latency probe"},
					&cli.DurationFlag{Name: "feed-window", Value: service.DefaultCheckFeedWindow, Usage: "how far back to look for the newest change"},
					&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "bound on the whole check (each call also has the section's timeouts)"},
				},
				Action: func(c *cli.Context) error {
					jsonOut := c.Bool("json")
					code, err := service.CheckScylla(c.Context, p.config, p.identity, service.CheckOptions{
						JSON:       jsonOut,
						Strict:     c.Bool("strict"),
						Colour:     !jsonOut && os.Getenv("NO_COLOR") == "" && term.IsTerminal(int(os.Stdout.Fd())),
						Reads:      c.Int("reads"),
						FeedWindow: c.Duration("feed-window"),
						Timeout:    c.Duration("timeout"),
					}, os.Stdout)
					if err != nil {
						return err
					}
					if code != 0 {
						return cli.Exit("", code)
					}
					return nil
				},
			},
			eventPartitionsCommand(p),
		},
	}
}

func eventPartitionsCommand(p *paths) *cli.Command {
	return &cli.Command{
		Name:      "event-partitions",
		Usage:     "show or change the change feed's partitions per minute recorded in the keyspace",
		ArgsUsage: "[N]",
		Description: `
The change feed (table pin_events) spreads the changes of each minute over
a number of partitions: more partitions spread its writes over more shards
of each replica, and every peer reads each of them. The keyspace records
that number (table feed_layout) and every peer uses what it records. The
setting state.scyllastate.event_partitions (default 32) is only used when
a peer creates the keyspace; a peer whose setting differs from the
keyspace says so in its log.

Without N: prints the layout (from when, how many partitions per minute,
including a change that is scheduled) and the configured event_partitions.

With N (1 to 128), or --from-config (the configured event_partitions):
after a confirmation (skipped with --yes), schedules the change from the
first minute that starts at least 10 minutes from now; earlier minutes
keep their count. Every running peer re-reads the layout every 30 seconds
and picks the change up by itself: no restart, safe on a live cluster.
When the keyspace already uses N, or already has N scheduled, nothing is
changed.

Reads the state.scyllastate section of service.json (with the CLUSTER_*
environment overrides) and connects as a peer would (with schema_mode
"create" that creates a missing keyspace or upgrades its schema). It never
touches the pins and takes no lock, so it runs next to a running peer.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "from-config", Usage: "use the configured event_partitions as N"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y", "force", "f"}, Usage: "skip the confirmation prompt"},
		},
		Action: func(c *cli.Context) error { return runEventPartitions(c, p) },
	}
}
