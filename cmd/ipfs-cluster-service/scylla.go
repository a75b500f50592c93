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
		Usage: "Diagnoses the ScyllaDB/Cassandra database of a scylla peer",
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
		},
	}
}
