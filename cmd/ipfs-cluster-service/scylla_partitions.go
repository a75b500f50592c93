//go:build scylla

package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cli "github.com/urfave/cli/v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// legacyEventPartitions is the count of a keyspace without a recorded
// layout (an empty scyllastate Feed.Layout).
const legacyEventPartitions = scyllastate.LegacyEventPartitions

// errPartitionsUsage marks the argument errors of `scylla event-partitions`.
var errPartitionsUsage = errors.New("scylla event-partitions")

// partitionsArgs are the arguments of `scylla event-partitions`.
type partitionsArgs struct {
	n          int  // N, 0 when not given
	fromConfig bool // --from-config: N is the configured event_partitions
	yes        bool // --yes: no confirmation prompt
}

// change tells whether the command changes the layout or only shows it.
func (a partitionsArgs) change() bool { return a.n != 0 || a.fromConfig }

// parsePartitionsArgs checks the arguments before anything is read or
// opened.
func parsePartitionsArgs(c *cli.Context) (partitionsArgs, error) {
	a := partitionsArgs{fromConfig: c.Bool("from-config"), yes: c.Bool("yes")}
	switch c.NArg() {
	case 0:
		return a, nil
	case 1:
	default:
		return a, fmt.Errorf("%w: too many arguments (%s): give at most one, N, the partitions per minute (1 to %d)",
			errPartitionsUsage, strings.Join(c.Args().Slice(), " "), scyllastate.MaxEventPartitions)
	}
	arg := c.Args().First()
	if a.fromConfig {
		return a, fmt.Errorf("%w: N (%s) and --from-config both give the partitions per minute: give one of them",
			errPartitionsUsage, arg)
	}
	n, err := strconv.Atoi(arg)
	if err != nil {
		return a, fmt.Errorf("%w: N %q is not a whole number: give the partitions per minute, 1 to %d",
			errPartitionsUsage, arg, scyllastate.MaxEventPartitions)
	}
	if err := checkPartitions("N", n); err != nil {
		return a, err
	}
	a.n = n
	return a, nil
}

// checkPartitions checks a number of partitions per minute, named what.
func checkPartitions(what string, n int) error {
	if n < 1 || n > scyllastate.MaxEventPartitions {
		return fmt.Errorf("%w: %s is %d: the change feed takes 1 to %d partitions per minute",
			errPartitionsUsage, what, n, scyllastate.MaxEventPartitions)
	}
	return nil
}

// runEventPartitions shows the change feed layout of the configured
// keyspace, or schedules a change of it. It never touches the pins.
func runEventPartitions(c *cli.Context, p *paths) error {
	a, err := parsePartitionsArgs(c)
	if err != nil {
		return err
	}
	h, err := config.NewLoadedHelper(p.config, p.identity)
	if err != nil {
		return err
	}
	h.Manager().Shutdown()
	if h.Consensus() != config.Scylla {
		return fmt.Errorf("%s configures the %s consensus, not scylla: scylla event-partitions works on peers initialised with `init --datastore scylla`",
			p.config, h.Consensus())
	}
	cfg := h.Configs().ScyllaState
	if a.fromConfig {
		a.n = cfg.EventPartitions // validated with the configuration
	}
	st, err := scyllastate.New(c.Context, cfg)
	if err != nil {
		return fmt.Errorf("opening keyspace %q: %w", cfg.Keyspace, err)
	}
	defer st.Close()
	entries, err := st.Feed().Layout(c.Context)
	if err != nil {
		return err
	}
	w := c.App.Writer
	now := time.Now()
	if !a.change() {
		printLayout(w, cfg, entries, now)
		return nil
	}

	l := layoutOf(entries)
	cur, last, scheduled := l.at(now), l.last(), l.scheduled(now)
	switch {
	case a.n == last && !scheduled:
		fmt.Fprintf(w, "keyspace %q already uses %d partitions per minute and has no change scheduled: nothing to do\n", cfg.Keyspace, a.n)
		return nil
	case a.n == last:
		fmt.Fprintf(w, "keyspace %q already has %d partitions per minute scheduled from %s: nothing to do\n",
			cfg.Keyspace, a.n, when(entries[len(entries)-1].From, now))
		return nil
	}
	prompt := fmt.Sprintf("The change feed of keyspace %q uses %d partitions per minute", cfg.Keyspace, cur)
	if scheduled {
		prompt += fmt.Sprintf(" (%d scheduled from %s)", last, when(entries[len(entries)-1].From, now))
	}
	prompt += fmt.Sprintf(". It will use %d from the first minute that starts at least 10 minutes from now; every running peer picks the change up by itself. Continue? [y/n]:", a.n)
	if !a.yes && !yesNoPrompt(prompt) {
		out("nothing changed\n")
		return nil
	}
	// Two changes scheduled for the same minute resolve to the larger
	// count: the store says so when this one does not hold.
	from, err := st.Feed().ScheduleEventPartitions(c.Context, a.n)
	if err != nil {
		return fmt.Errorf("scheduling %d partitions per minute in keyspace %q: %w", a.n, cfg.Keyspace, err)
	}
	fmt.Fprintf(w, "scheduled: the change feed of keyspace %q uses %d partitions per minute from %s (in %s; %d until then).\n",
		cfg.Keyspace, a.n, from.UTC().Format(time.RFC3339), time.Until(from).Round(time.Second), cur)
	fmt.Fprintf(w, "Every running peer re-reads the layout every 30 seconds and picks the change up by itself: no restart is needed.\n")
	if cfg.EventPartitions != a.n {
		fmt.Fprintf(w, "state.scyllastate.event_partitions is %d in %s: set it to %d so that the peers stop warning that it differs (it is only used to create a keyspace).\n",
			cfg.EventPartitions, p.config, a.n)
	}
	return nil
}

// feedLayout answers questions about a layout listed by Feed.Layout
// (oldest entry first).
type feedLayout []scyllastate.LayoutEntry

func layoutOf(entries []scyllastate.LayoutEntry) feedLayout { return feedLayout(entries) }

// at returns the partitions per minute of the minute holding t.
func (l feedLayout) at(t time.Time) int {
	n := legacyEventPartitions
	for _, e := range l {
		if e.From.After(t) {
			break
		}
		n = e.Partitions
	}
	return n
}

// last returns the partitions per minute once every scheduled change
// applies.
func (l feedLayout) last() int {
	if len(l) == 0 {
		return legacyEventPartitions
	}
	return l[len(l)-1].Partitions
}

// scheduled tells whether a change applies after now.
func (l feedLayout) scheduled(now time.Time) bool {
	return len(l) > 0 && l[len(l)-1].From.After(now)
}

// printLayout writes the layout, one line per entry, and the setting.
func printLayout(w io.Writer, cfg *scyllastate.Config, entries []scyllastate.LayoutEntry, now time.Time) {
	fmt.Fprintf(w, "change feed layout of keyspace %q:\n", cfg.Keyspace)
	if len(entries) == 0 {
		fmt.Fprintf(w, "  %d partitions per minute (no layout recorded, keyspace of an older version)\n", legacyEventPartitions)
	} else if entries[0].From.Unix() > 0 {
		// A keyspace of an older version with changes scheduled since.
		fmt.Fprintf(w, "  %d partitions per minute (no layout recorded, keyspace of an older version)%s\n",
			legacyEventPartitions, status(time.Time{}, entries[0].From, now))
	}
	for i, e := range entries {
		var next time.Time
		if i+1 < len(entries) {
			next = entries[i+1].From
		}
		since := "from " + e.From.UTC().Format(time.RFC3339)
		if e.From.Unix() <= 0 {
			since = "since the keyspace was created"
		}
		fmt.Fprintf(w, "  %d partitions per minute %s%s\n", e.Partitions, since, status(e.From, next, now))
	}
	fmt.Fprintf(w, "state.scyllastate.event_partitions: %d (used only when a peer creates the keyspace)\n", cfg.EventPartitions)
	if last := layoutOf(entries).last(); last != cfg.EventPartitions {
		fmt.Fprintf(w, "the setting differs from the keyspace's %d: to use it, run `%s scylla event-partitions --from-config`, "+
			"or set event_partitions to %d to silence the peers' warning\n", last, programName, last)
	}
}

// status says whether the entry from..until (zero: no end) is past, in
// effect or scheduled at now.
func status(from, until time.Time, now time.Time) string {
	switch {
	case from.After(now):
		return fmt.Sprintf(" (scheduled, in %s)", from.Sub(now).Round(time.Second))
	case !until.IsZero() && !until.After(now):
		return ", until " + until.UTC().Format(time.RFC3339)
	case !until.IsZero():
		return " (in effect, until " + until.UTC().Format(time.RFC3339) + ")"
	default:
		return " (in effect)"
	}
}

// when renders a time to come with how far ahead it is.
func when(t, now time.Time) string {
	s := t.UTC().Format(time.RFC3339)
	if d := t.Sub(now); d > 0 {
		s += fmt.Sprintf(" (in %s)", d.Round(time.Second))
	}
	return s
}
