//go:build scylla && integration

package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/api/rest/client"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
)

// errorCids lists the CIDs that `status --filter error` reports in
// pin_error with an error message, sorted.
func errorCids(t *testing.T, c client.Client) []string {
	t.Helper()
	out := make(chan api.GlobalPinInfo, 64)
	errc := make(chan error, 1)
	go func() { errc <- c.StatusAll(context.Background(), api.TrackerStatusError, false, out) }()
	var cids []string
	for gpi := range out {
		for _, pi := range gpi.PeerMap {
			if pi.Status == api.TrackerStatusPinError && pi.Error != "" {
				cids = append(cids, gpi.Cid.String())
			}
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("status --filter error: %s", err)
	}
	slices.Sort(cids)
	return cids
}

// metricValue is the value of a metric (no labels) that the peer serves
// on /metrics, or "" when it serves none.
func metricValue(t *testing.T, endpoint, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	return ""
}

// sortedStrings returns the CIDs as sorted strings.
func sortedStrings(cids []api.Cid) []string {
	out := make([]string, len(cids))
	for i, c := range cids {
		out[i] = c.String()
	}
	slices.Sort(out)
	return out
}

// Pins whose content kubo cannot fetch end in pin_error and are kept in
// tracker_errors: status lists them with their error, also after a
// restart (from the database); recover and unpin clear them; the
// pin_error metric counts them.
func TestTrackerErrorsAreListedRecoveredAndCounted(t *testing.T) {
	const n = 50
	// feed_overlap (W): a restart reads again the changes since W before
	// the feed's position, which moves at its sweeps (every W) to W before
	// the sweep: the restart below waits 3W after the pins so that the
	// errors it lists come from the database only.
	const overlap = 7 * time.Second
	k := kubotest.Start(t)
	metricsPort, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	dir := initPeer(t, k, func(c map[string]any) {
		onKeyspace(db)(c)
		jsonconf.Set(c, "ipfs_connector.ipfshttp.pin_timeout", "1s")
		jsonconf.Set(c, "pin_tracker.stateless.concurrent_pins", 50)
		// A repair tracks again the pins IPFS lacks, errors included
		// (pin_queued for a moment): the counts below are exact.
		jsonconf.Set(c, "consensus.scylla.repair_interval", "168h")
		jsonconf.Set(c, "consensus.scylla.feed_overlap", overlap.String())
		jsonconf.Set(c, "state.scyllastate.timeout", "2s")
		jsonconf.Set(c, "state.scyllastate.retry_policy.num_retries", 0)
		jsonconf.Set(c, "observations.metrics.prometheus_endpoint", "/ip4/127.0.0.1/tcp/"+fmt.Sprint(metricsPort))
	}, "--datastore", "scylla")
	d := startDaemon(t, dir, "--stats")
	ctl := d.client(t)
	ctx := context.Background()
	self, err := ctl.ID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// n CIDs of files no kubo holds (the offline kubo fails their pins).
	files := make([][]byte, n)
	cids := make([]api.Cid, n)
	for i := range files {
		files[i] = fmt.Appendf(nil, "tracker error %d of %d", i, time.Now().UnixNano())
		cids[i] = k.HashOnly(t, files[i])
	}
	for _, c := range cids {
		if _, err := ctl.Pin(ctx, c, api.PinOptions{ReplicationFactorMin: -1, ReplicationFactorMax: -1}); err != nil {
			t.Fatal(err)
		}
	}
	pinnedAt := time.Now()
	session := cqltest.Session(t, db)
	defer session.Close()
	storedRows := func() []string {
		iter := session.Query("SELECT peer FROM " + db.Keyspace + ".tracker_errors").Iter()
		var peers []string
		var p string
		for iter.Scan(&p) {
			peers = append(peers, p)
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		return peers
	}
	errorsAre := func(want []string, what string) {
		t.Helper()
		waitUntil(t, 60*time.Second, what, func() bool { return slices.Equal(errorCids(t, ctl), want) })
		waitUntil(t, 10*time.Second, fmt.Sprintf("%d rows in tracker_errors", len(want)), func() bool { return len(storedRows()) == len(want) })
		waitUntil(t, 10*time.Second, fmt.Sprintf("ipfscluster_pins_pin_error %d", len(want)), func() bool {
			return metricValue(t, endpoint, "ipfscluster_pins_pin_error") == fmt.Sprint(len(want))
		})
	}
	statusesAre := func(want map[string]int) {
		t.Helper()
		waitUntil(t, 30*time.Second, fmt.Sprintf("status %v", want), func() bool { return fmt.Sprint(statuses(t, ctl, api.TrackerStatusUndefined)) == fmt.Sprint(want) })
	}

	// Every pin ends in pin_error, listed by status --filter error, stored
	// once per CID under the peer, counted by the metric.
	errorsAre(sortedStrings(cids), fmt.Sprintf("the %d pins listed in pin_error", n))
	gpi, err := ctl.Status(ctx, cids[0], false)
	if err != nil {
		t.Fatal(err)
	}
	if pi := gpi.PeerMap[self.ID.String()]; pi.Status != api.TrackerStatusPinError || pi.Error == "" {
		t.Fatalf("status CID: %s %q, want pin_error with the error", pi.Status, pi.Error)
	}
	statusesAre(map[string]int{"pin_error": n})
	for _, p := range storedRows() {
		if p != self.ID.String() {
			t.Fatalf("a row of tracker_errors is under peer %q, want %s", p, self.ID)
		}
	}

	// Once kubo has the blocks, recover CID pins it and clears its error.
	k.Add(t, files[0])
	if _, err := ctl.Recover(ctx, cids[0], false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the recovered pin pinned in kubo", func() bool { return k.Pinned(t, cids[0]) })
	errorsAre(sortedStrings(cids[1:]), "the recovered pin leaves the error list")

	// recover (all) pins those kubo now has; the others fail again.
	for _, f := range files[1:5] {
		k.Add(t, f)
	}
	out := make(chan api.GlobalPinInfo, 64)
	go func() { _ = ctl.RecoverAll(ctx, false, out) }()
	for range out {
	}
	statusesAre(map[string]int{"pin_error": n - 5, "pinned": 5})
	for _, c := range cids[1:5] {
		if !k.Pinned(t, c) {
			t.Errorf("%s recovered but not pinned in kubo", c)
		}
	}
	still := sortedStrings(cids[5:])
	errorsAre(still, "the pins kubo still lacks listed")

	// After a restart the peer lists the same errors at once, from the database.
	time.Sleep(time.Until(pinnedAt.Add(3*overlap + 2*time.Second)))
	d.stop(t)
	d = startDaemon(t, dir, "--stats")
	if got := statuses(t, ctl, api.TrackerStatusUndefined); fmt.Sprint(got) != fmt.Sprint(map[string]int{"pin_error": n - 5, "pinned": 5}) {
		t.Fatalf("status right after the restart: %v", got)
	}
	d.waitLog(t, time.Second, ": 0 changes read")
	if got := errorCids(t, ctl); !slices.Equal(got, still) {
		t.Fatalf("after the restart status --filter error lists %v, want %v", got, still)
	}
	errorsAre(still, "the metric counts the stored errors after the restart")

	// An unpin of a CID in error removes it from the list and the table.
	if _, err := ctl.Unpin(ctx, cids[n-1]); err != nil {
		t.Fatal(err)
	}
	errorsAre(sortedStrings(cids[5:n-1]), "the unpinned CID leaves the error list")
	statusesAre(map[string]int{"pin_error": n - 6, "pinned": 5})
	d.stop(t)
}
