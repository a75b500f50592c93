package scyllacheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// nodesIn makes n nodes per data center: "dc1:3,dc2:1".
func nodesIn(spec string) []diag.Node {
	var out []diag.Node
	for _, part := range strings.Split(spec, ",") {
		var dc string
		var n int
		name, count, _ := strings.Cut(part, ":")
		dc = name
		fmt.Sscan(count, &n)
		for i := range n {
			out = append(out, node(fmt.Sprintf("%s-%d", dc, i), dc))
		}
	}
	return out
}

func simple(rf string) diag.KeyspaceInfo {
	return diag.KeyspaceInfo{Name: "pins", Exists: true, Class: scyllastate.SimpleStrategy, Options: map[string]string{"replication_factor": rf}, DurableWrites: true}
}

func nts(dcs map[string]string) diag.KeyspaceInfo {
	return diag.KeyspaceInfo{Name: "pins", Exists: true, Class: scyllastate.NetworkTopologyStrategy, Options: dcs, DurableWrites: true}
}

func TestReplication(t *testing.T) {
	type want struct {
		st      Status
		check   string
		subject string
		text    string // in the message or the hint
	}
	cases := []struct {
		name  string
		ks    diag.KeyspaceInfo
		nodes string
		cfg   func(c *scyllastate.Config)
		down  map[string]bool // addresses
		want  []want
		clean bool // no WARN or FAIL at all
	}{
		{name: "RF 1 on one node is fine", ks: simple("1"), nodes: "dc1:1", clean: true},
		{name: "RF 3 on three nodes is fine", ks: simple("3"), nodes: "dc1:3", clean: true},
		{name: "RF 1 on three nodes", ks: simple("1"), nodes: "dc1:3",
			want: []want{{Warn, "replication_factor", "pins", "'replication_factor': 3"}}},
		{name: "RF above the nodes", ks: simple("3"), nodes: "dc1:1",
			want: []want{{Warn, "replication_factor", "pins", "only 1 copies"}, {Fail, "consistency", "LOCAL_QUORUM", "needs 2 replicas"}}},
		{name: "RF 2: quorum needs both", ks: simple("2"), nodes: "dc1:3",
			want: []want{{Warn, "consistency", "LOCAL_QUORUM", "one node down"}}},
		{name: "SimpleStrategy across DCs", ks: simple("3"), nodes: "dc1:3,dc2:3",
			want: []want{{Warn, "strategy", "pins", "NetworkTopologyStrategy"}}},
		{name: "EACH_QUORUM events with SimpleStrategy", ks: simple("3"), nodes: "dc1:3",
			cfg:  func(c *scyllastate.Config) { c.EventConsistency = "EACH_QUORUM" },
			want: []want{{Fail, "event_consistency", "EACH_QUORUM", "NetworkTopologyStrategy"}}},
		{name: "NTS 3+3 with EACH_QUORUM events is fine", ks: nts(map[string]string{"dc1": "3", "dc2": "3"}), nodes: "dc1:3,dc2:3",
			cfg: func(c *scyllastate.Config) {
				c.EventConsistency, c.LocalDC, c.DCAwareRouting = "EACH_QUORUM", "dc1", true
			},
			clean: true},
		{name: "NTS across DCs without EACH_QUORUM events", ks: nts(map[string]string{"dc1": "3", "dc2": "3"}), nodes: "dc1:3,dc2:3",
			want: []want{{Warn, "event_consistency", "pins", "EACH_QUORUM"}}},
		{name: "NTS naming a DC without nodes", ks: nts(map[string]string{"DC1": "3"}), nodes: "dc1:3",
			want: []want{{Warn, "replication_factor", "DC1", "case-sensitive"}, {Fail, "consistency", "LOCAL_QUORUM", "data center dc1"}}},
		{name: "NTS above the nodes of a DC", ks: nts(map[string]string{"dc1": "3"}), nodes: "dc1:2",
			want: []want{{Warn, "replication_factor", "dc1", "only 2 copies"}, {Warn, "consistency", "LOCAL_QUORUM", "one node down"}}},
		{name: "NTS with 1 replica in a DC of several nodes", ks: nts(map[string]string{"dc1": "1"}), nodes: "dc1:3",
			want: []want{{Warn, "replication_factor", "dc1", "'dc1': 3"}}},
		{name: "local_dc without replicas", ks: nts(map[string]string{"dc1": "3"}), nodes: "dc1:3,dc2:3",
			cfg:  func(c *scyllastate.Config) { c.LocalDC, c.DCAwareRouting = "dc2", true },
			want: []want{{Fail, "consistency", "LOCAL_QUORUM", "data center dc2"}}},
		{name: "a DC without replicas that no peer uses", ks: nts(map[string]string{"dc1": "3"}), nodes: "dc1:3,dc2:3",
			cfg:  func(c *scyllastate.Config) { c.LocalDC, c.DCAwareRouting = "dc1", true },
			want: []want{{Info, "replication_factor", "dc2", "no replica"}}},
		{name: "QUORUM over two DCs", ks: nts(map[string]string{"dc1": "3", "dc2": "3"}), nodes: "dc1:3,dc2:3",
			cfg:  func(c *scyllastate.Config) { c.Consistency, c.EventConsistency = "QUORUM", "" },
			want: []want{{OK, "consistency", "QUORUM", "needs 4 of the 6"}}},
		{name: "EACH_QUORUM events to a DC without nodes fall back", ks: nts(map[string]string{"dc1": "3", "dc9": "3"}), nodes: "dc1:3",
			cfg: func(c *scyllastate.Config) {
				c.EventConsistency, c.LocalDC, c.DCAwareRouting = "EACH_QUORUM", "dc1", true
			},
			want: []want{{Warn, "event_consistency", "EACH_QUORUM", "falls back to LOCAL_QUORUM"}}},
		{name: "ALL on three replicas", ks: simple("3"), nodes: "dc1:3",
			cfg:  func(c *scyllastate.Config) { c.Consistency = "ALL" },
			want: []want{{Warn, "consistency", "ALL", "one node down"}}},
		{name: "THREE on one node", ks: simple("1"), nodes: "dc1:1",
			cfg:  func(c *scyllastate.Config) { c.Consistency = "THREE" },
			want: []want{{Fail, "consistency", "THREE", "needs 3 replicas"}}},
		{name: "RF 3 with a node down", ks: simple("3"), nodes: "dc1:3", down: map[string]bool{"dc1-2": true},
			want: []want{{Warn, "consistency", "LOCAL_QUORUM", "2 of the 2 replicas that can answer in the cluster (1 node down): one more node down"}}},
		{name: "RF 3 with two nodes down", ks: simple("3"), nodes: "dc1:3", down: map[string]bool{"dc1-1": true, "dc1-2": true},
			want: []want{{Fail, "consistency", "LOCAL_QUORUM", "only 1 can answer (2 nodes down)"}}},
		{name: "the configuration differs from the keyspace", ks: simple("3"), nodes: "dc1:3",
			want: []want{{Info, "configured_replication", "pins", "only applies when a peer creates"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ReplicationStrategy, cfg.ReplicationFactor, cfg.DCReplication = c.ks.Class, 1, nil
			if c.ks.Class == scyllastate.SimpleStrategy && c.name != "the configuration differs from the keyspace" {
				fmt.Sscan(c.ks.Options["replication_factor"], &cfg.ReplicationFactor)
			}
			if c.ks.Class == scyllastate.NetworkTopologyStrategy {
				cfg.DCReplication = map[string]int{}
				for dc, v := range c.ks.Options {
					var n int
					fmt.Sscan(v, &n)
					cfg.DCReplication[dc] = n
				}
			}
			if c.cfg != nil {
				c.cfg(cfg)
			}
			fs := analyzeReplication(c.ks, nodesIn(c.nodes), c.down, cfg)
			if c.clean {
				for _, f := range fs {
					if f.Status == Warn || f.Status == Fail || f.Status == Info {
						t.Errorf("unexpected %s finding: %+v", f.Status, f)
					}
				}
			}
			for _, w := range c.want {
				got := one(t, fs, w.st, w.check, w.subject)
				if !strings.Contains(got.Message+" "+got.Hint, w.text) {
					t.Errorf("%s %s: %q / %q lacks %q", w.st, w.check, got.Message, got.Hint, w.text)
				}
			}
		})
	}
}

func TestReplicationOfUnknownClass(t *testing.T) {
	ks := diag.KeyspaceInfo{Name: "pins", Exists: true, Class: "EverywhereStrategy", Options: map[string]string{}}
	one(t, analyzeReplication(ks, nodesIn("dc1:3"), nil, testConfig()), Info, "replication", "pins")
}
