//go:build scylla && integration

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// layoutString renders a layout as "32 from <time>, 8 from <time>".
func layoutString(entries []scyllastate.LayoutEntry) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, fmt.Sprintf("%d from %s", e.Partitions, e.From.UTC().Format(time.RFC3339)))
	}
	return strings.Join(parts, ", ")
}

func TestScyllaEventPartitionsShowsAndSchedules(t *testing.T) {
	dir, st := initScylla(t) // a fresh keyspace, created with the default
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if err := st.Add(ctx, statetest.Pin(i)); err != nil {
			t.Fatal(err)
		}
	}
	ks := st.Config().Keyspace
	cmd := func(args ...string) (string, error) {
		return stdout(t, func() error {
			return run(t, append([]string{"-c", dir, "scylla", "event-partitions"}, args...)...)
		})
	}
	layout := func() []scyllastate.LayoutEntry {
		t.Helper()
		entries, err := st.Feed().Layout(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	mustContain := func(what, out string, wants ...string) {
		t.Helper()
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the output lacks %q:\n%s", what, want, out)
			}
		}
	}

	out, err := cmd()
	if err != nil {
		t.Fatal(err)
	}
	mustContain("show, fresh keyspace", out,
		`change feed layout of keyspace "`+ks+`":`,
		"  32 partitions per minute since the keyspace was created (in effect)\n",
		"state.scyllastate.event_partitions: 32 (used only when a peer creates the keyspace)\n")
	if strings.Contains(out, "differs") {
		t.Errorf("show: the setting is the keyspace's, yet the output says it differs:\n%s", out)
	}

	// The layout in effect, nothing scheduled: nothing to do.
	for _, args := range [][]string{{"--yes", "32"}, {"--yes", "--from-config"}} {
		out, err = cmd(args...)
		if err != nil {
			t.Fatalf("%v: %s", args, err)
		}
		mustContain(strings.Join(args, " "), out, `keyspace "`+ks+`" already uses 32 partitions per minute and has no change scheduled: nothing to do`)
		if l := layout(); len(l) != 1 || l[0].Partitions != 32 {
			t.Fatalf("%v changed the layout: %s", args, layoutString(l))
		}
	}

	// Declined at the prompt (and no answer at all): nothing scheduled.
	for _, answer := range []string{"n\n", ""} {
		stdin = newStdin(answer)
		if out, err = cmd("8"); err != nil {
			t.Fatalf("declined: %s", err)
		}
		if strings.Contains(out, "scheduled") {
			t.Errorf("declined with %q, yet the output says scheduled:\n%s", answer, out)
		}
		if l := layout(); len(l) != 1 {
			t.Fatalf("declined with %q, yet the layout changed: %s", answer, layoutString(l))
		}
	}

	// Confirmed at the prompt: scheduled at least 10 minutes ahead.
	stdin = newStdin("y\n")
	before := time.Now()
	out, err = cmd("8")
	if err != nil {
		t.Fatalf("event-partitions 8: %s", err)
	}
	l := layout()
	if len(l) != 2 || l[1].Partitions != 8 {
		t.Fatalf("after event-partitions 8 the layout is %s, want 32 then 8", layoutString(l))
	}
	from := l[1].From
	if from.Before(before.Add(10*time.Minute)) || from.After(time.Now().Add(12*time.Minute)) {
		t.Errorf("8 partitions apply from %s, want the first minute at least 10 minutes after %s", from, before)
	}
	fromStr := from.UTC().Format(time.RFC3339)
	mustContain("event-partitions 8", out,
		`scheduled: the change feed of keyspace "`+ks+`" uses 8 partitions per minute from `+fromStr+" (in ",
		"; 32 until then).\n",
		"Every running peer re-reads the layout every 30 seconds and picks the change up by itself",
		"state.scyllastate.event_partitions is 32 in ")

	// Shown: 32 in effect until the change, 8 scheduled.
	out, err = cmd()
	if err != nil {
		t.Fatal(err)
	}
	mustContain("show, 8 scheduled", out,
		"  32 partitions per minute since the keyspace was created (in effect, until "+fromStr+")\n",
		"  8 partitions per minute from "+fromStr+" (scheduled, in ",
		"state.scyllastate.event_partitions: 32",
		"the setting differs from the keyspace's 8: to use it, run `ipfs-cluster-service scylla event-partitions --from-config`")

	// Already scheduled: nothing to do.
	out, err = cmd("-y", "8")
	if err != nil {
		t.Fatal(err)
	}
	mustContain("8 again", out, `keyspace "`+ks+`" already has 8 partitions per minute scheduled from `+fromStr)
	if l := layout(); len(l) != 2 {
		t.Fatalf("8 again changed the layout: %s", layoutString(l))
	}

	// --from-config: back to the configured 32, after the 8 (or in
	// its minute, where the larger count wins).
	out, err = cmd("--from-config", "--yes")
	if err != nil {
		t.Fatalf("--from-config: %s", err)
	}
	l = layout()
	if last := l[len(l)-1]; last.Partitions != 32 || last.From.Before(from) {
		t.Fatalf("after --from-config the layout is %s, want 32 last, from %s on", layoutString(l), fromStr)
	}
	mustContain("--from-config", out, "uses 32 partitions per minute from ")
	if strings.Contains(out, "event_partitions is") {
		t.Errorf("--from-config asks to set the setting it used:\n%s", out)
	}

	// 16 now: in the same minute as the 32 just scheduled the larger
	// count wins, which the command reports; a minute later it holds.
	out, err = cmd("--yes", "16")
	l = layout()
	if err != nil {
		if !strings.Contains(err.Error(), "another change to 32 partitions per minute scheduled for the same minute") ||
			!strings.Contains(err.Error(), "run the command again after") {
			t.Fatalf("16 in the minute of a 32: want an error saying the larger count wins, got %v", err)
		}
		if last := l[len(l)-1]; last.Partitions != 32 {
			t.Fatalf("after the refused 16 the layout is %s, want 32 last", layoutString(l))
		}
	} else if last := l[len(l)-1]; last.Partitions != 16 {
		t.Fatalf("16 succeeded (%q) but the layout is %s", out, layoutString(l))
	}

	// The pins are untouched.
	if n := count(t, st); n != 3 {
		t.Errorf("the command changed the pins: %d left of 3", n)
	}
}
