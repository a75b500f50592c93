package scyllacheck

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// replicas is a keyspace's replication placed on the nodes of the
// cluster.
type replicas struct {
	class  string
	simple bool
	// rf is the factor per data center (NetworkTopologyStrategy), or
	// under "" (SimpleStrategy).
	rf    map[string]int
	nodes map[string]int
	total int
	// down counts the nodes known down (contact points that did not
	// answer), per data center; downTotal in all.
	down      map[string]int
	downTotal int
}

func newReplicas(ks diag.KeyspaceInfo, nodes []diag.Node, down map[string]bool) (replicas, bool) {
	r := replicas{class: ks.Class, rf: map[string]int{}, nodes: nodesPerDC(nodes), down: map[string]int{}}
	for _, n := range r.nodes {
		r.total += n
	}
	for _, n := range nodes {
		if down[n.Address] {
			r.down[n.DataCenter]++
			r.downTotal++
		}
	}
	switch ks.Class {
	case scyllastate.SimpleStrategy:
		r.simple = true
		n, err := strconv.Atoi(ks.Options["replication_factor"])
		if err != nil {
			return r, false
		}
		r.rf[""] = n
	case scyllastate.NetworkTopologyStrategy:
		for dc, v := range ks.Options {
			if n, err := strconv.Atoi(v); err == nil && dc != "replication_factor" {
				r.rf[dc] = n
			}
		}
	default:
		return r, false
	}
	return r, true
}

func (r replicas) totalRF() int {
	n := 0
	for _, f := range r.rf {
		n += f
	}
	return n
}

// avail is how many replicas of a partition, in a data center ("" for
// SimpleStrategy), can answer at worst: one per node at most, less the
// nodes known down (which may all hold that partition).
func (r replicas) avail(dc string) int {
	if r.simple {
		return max(0, min(r.rf[""], r.total)-r.downTotal)
	}
	return max(0, min(r.rf[dc], r.nodes[dc])-r.down[dc])
}

func (r replicas) totalAvail() int {
	if r.simple {
		return r.avail("")
	}
	n := 0
	for dc := range r.rf {
		n += r.avail(dc)
	}
	return n
}

// requirement is what a consistency level waits for in one scope.
type requirement struct {
	scope      string
	need, have int
}

func quorum(n int) int { return n/2 + 1 }

// requirements lists, for a consistency level, the replicas it needs
// and how many can answer in each scope. refusal is set when the
// database refuses the level with this replication.
func (r replicas) requirements(level scyllastate.Consistency, localDC string) (reqs []requirement, refusal string) {
	all := "the cluster"
	if !r.simple {
		all = "all data centers"
	}
	switch level {
	case scyllastate.ConsistencyAny:
		return nil, ""
	case scyllastate.ConsistencyOne:
		return []requirement{{all, 1, r.totalAvail()}}, ""
	case scyllastate.ConsistencyTwo:
		return []requirement{{all, 2, r.totalAvail()}}, ""
	case scyllastate.ConsistencyThree:
		return []requirement{{all, 3, r.totalAvail()}}, ""
	case scyllastate.ConsistencyQuorum:
		return []requirement{{all, quorum(r.totalRF()), r.totalAvail()}}, ""
	case scyllastate.ConsistencyAll:
		return []requirement{{all, r.totalRF(), r.totalAvail()}}, ""
	case scyllastate.ConsistencyEachQuorum:
		if r.simple {
			return nil, "EACH_QUORUM needs NetworkTopologyStrategy (Cassandra refuses it with SimpleStrategy)"
		}
		for _, dc := range sortedKeys(r.rf) {
			if r.rf[dc] > 0 {
				reqs = append(reqs, requirement{"data center " + dc, quorum(r.rf[dc]), r.avail(dc)})
			}
		}
		return reqs, ""
	}
	// LOCAL_ONE, LOCAL_QUORUM: counted in the coordinator's data
	// center.
	local := func(rf int) int {
		if level == scyllastate.ConsistencyLocalOne {
			return 1
		}
		return quorum(rf)
	}
	if r.simple {
		return []requirement{{all, local(r.rf[""]), r.avail("")}}, ""
	}
	dcs := sortedKeys(r.nodes)
	if localDC != "" && r.nodes[localDC] > 0 {
		dcs = []string{localDC}
	}
	for _, dc := range dcs {
		reqs = append(reqs, requirement{"data center " + dc, local(r.rf[dc]), r.avail(dc)})
	}
	return reqs, ""
}

// analyzeReplication judges a keyspace's replication against the nodes
// and the configured consistency levels.
func analyzeReplication(ks diag.KeyspaceInfo, nodes []diag.Node, down map[string]bool, cfg *scyllastate.Config) []Finding {
	fs := &findings{section: SectionKeyspace}
	r, ok := newReplicas(ks, nodes, down)
	if !ok {
		fs.add("replication", ks.Name, Info, fmt.Sprintf("replication class %s is not analysed", ks.Class), "")
		return fs.list
	}
	if len(nodes) == 0 {
		return fs.list
	}
	repair := fmt.Sprintf("then `nodetool repair -full %s`", ks.Name)
	dcs := sortedKeys(r.nodes)
	if r.simple {
		rf := r.rf[""]
		switch {
		case rf == 1 && r.total > 1:
			fs.add("replication_factor", ks.Name, Warn,
				fmt.Sprintf("replication_factor 1 on %s: each pin is on one node only; while it is down its pins cannot be read or written, and its disk holds their only copy", plural(r.total, "node")),
				fmt.Sprintf("ALTER KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': %d}, %s", ks.Name, min(3, r.total), repair))
		case rf > r.total:
			fs.add("replication_factor", ks.Name, Warn,
				fmt.Sprintf("replication_factor %d exceeds the %s of the cluster: only %d copies exist", rf, plural(r.total, "node"), r.total),
				"add nodes, or lower the factor with ALTER KEYSPACE")
		}
		if len(dcs) > 1 {
			fs.add("strategy", ks.Name, Warn,
				fmt.Sprintf("SimpleStrategy across %d data centers places replicas without regard to data centers", len(dcs)),
				fmt.Sprintf("ALTER KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', %s}, %s (docs/configuration.md)", ks.Name, ntsExample(dcs, r.nodes), repair))
		}
	} else {
		for _, dc := range sortedKeys(r.rf) {
			rf, n := r.rf[dc], r.nodes[dc]
			switch {
			case rf > 0 && n == 0:
				fs.add("replication_factor", dc, Warn,
					fmt.Sprintf("the keyspace keeps %d replicas in data center %s, which has no node (data centers: %s)", rf, dc, strings.Join(dcs, ", ")),
					"fix the name (case-sensitive, as `nodetool status` shows it) with ALTER KEYSPACE: replicas in a data center without nodes count in QUORUM and EACH_QUORUM")
			case rf > n:
				fs.add("replication_factor", dc, Warn,
					fmt.Sprintf("%d replicas asked in data center %s, which has %s: only %d copies exist", rf, dc, plural(n, "node"), n),
					"add nodes to that data center, or lower its factor with ALTER KEYSPACE")
			case rf == 1 && n > 1:
				fs.add("replication_factor", dc, Warn,
					fmt.Sprintf("1 replica in data center %s, which has %d nodes: while that node is down, the pins it holds cannot be read there", dc, n),
					fmt.Sprintf("use 3 replicas per data center: ALTER KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', %s}, %s", ks.Name, ntsExample(dcs, r.nodes), repair))
			}
		}
		for _, dc := range dcs {
			if r.rf[dc] == 0 && dc != cfg.LocalDC {
				fs.add("replication_factor", dc, Info, fmt.Sprintf("data center %s holds no replica of the keyspace", dc), "")
			}
		}
		replicated := 0
		for dc, rf := range r.rf {
			if rf > 0 && r.nodes[dc] > 0 {
				replicated++
			}
		}
		events := cfg.EventConsistencyLevel()
		if replicated > 1 && cfg.ConsistencyLevel().Local() && events != scyllastate.ConsistencyEachQuorum {
			fs.add("event_consistency", ks.Name, Warn,
				fmt.Sprintf("the keyspace spans %d data centers and events are written at %s: a peer of another data center may miss a change that reaches it later than feed_overlap", replicated, events),
				"set state.scyllastate.event_consistency to EACH_QUORUM (docs/configuration.md, Consistency per DC)")
		}
	}

	type setting struct {
		name  string
		level scyllastate.Consistency
	}
	settings := []setting{{"consistency", cfg.ConsistencyLevel()}}
	if cfg.EventConsistency != "" && cfg.EventConsistencyLevel() != cfg.ConsistencyLevel() {
		settings = append(settings, setting{"event_consistency", cfg.EventConsistencyLevel()})
	}
	// serial_consistency is not judged: the store sends no lightweight
	// transaction and reads the schema version at consistency; the
	// setting is only accepted for configurations of older builds.
	for _, s := range settings {
		fs.list = append(fs.list, consistencyFinding(r, s.name, s.level, cfg.LocalDC, ks.Name))
	}
	if diff := configuredReplication(cfg, ks); diff != "" {
		fs.add("configured_replication", ks.Name, Info, diff, "")
	}
	return fs.list
}

// consistencyFinding tells whether the replicas a level needs can answer.
func consistencyFinding(r replicas, setting string, level scyllastate.Consistency, localDC, ks string) Finding {
	fd := Finding{Section: SectionKeyspace, Check: setting, Subject: level.String()}
	uses := map[string]string{
		"consistency":       "reads, writes and the schema version read at start",
		"event_consistency": "change-feed event writes",
	}[setting]
	reqs, refusal := r.requirements(level, localDC)
	if refusal != "" {
		fd.Status, fd.Message = Fail, fmt.Sprintf("%s: %s", setting, refusal)
		fd.Hint = "set state.scyllastate." + setting + " to LOCAL_QUORUM, or move the keyspace to NetworkTopologyStrategy"
		return fd
	}
	if len(reqs) == 0 {
		fd.Status, fd.Message = OK, fmt.Sprintf("%s for %s waits for no replica", setting, uses)
		return fd
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].have-reqs[i].need < reqs[j].have-reqs[j].need })
	worst := reqs[0]
	downNote := ""
	if r.downTotal > 0 {
		downNote = fmt.Sprintf(" (%s down)", plural(r.downTotal, "node"))
	}
	msg := fmt.Sprintf("%s for %s needs %d of the %d replicas that can answer in %s%s", setting, uses, worst.need, worst.have, worst.scope, downNote)
	switch {
	case worst.need > worst.have && setting == "event_consistency" && level == scyllastate.ConsistencyEachQuorum:
		fd.Status = Warn
		fd.Message = fmt.Sprintf("%s needs %d replicas in %s, where only %d can answer: every event write falls back to LOCAL_QUORUM", setting, worst.need, worst.scope, worst.have)
		fd.Hint = "fix the replication of that data center (see above)"
	case worst.need > worst.have:
		fd.Status = Fail
		fd.Message = fmt.Sprintf("%s %s for %s needs %d replicas in %s, where only %d can answer%s: those calls fail", setting, level, uses, worst.need, worst.scope, worst.have, downNote)
		fd.Hint = fmt.Sprintf("raise the replication (ALTER KEYSPACE %s, then nodetool repair -full), add nodes, or lower state.scyllastate.%s", ks, setting)
	case worst.need == worst.have && r.downTotal > 0:
		fd.Status = Warn
		fd.Message = msg + ": one more node down stops them"
		fd.Hint = "bring the nodes that are down back (see the hosts section)"
	case worst.need == worst.have && worst.have > 1:
		fd.Status = Warn
		fd.Message = msg + ": one node down stops them"
		fd.Hint = "use 3 replicas per data center: LOCAL_QUORUM then needs 2 and survives one node down (docs/configuration.md)"
	default:
		fd.Status, fd.Message = OK, msg
	}
	return fd
}

// configuredReplication describes how the configured replication (used
// only when a peer creates the keyspace) differs from the keyspace's.
func configuredReplication(cfg *scyllastate.Config, ks diag.KeyspaceInfo) string {
	var want map[string]string
	switch cfg.ReplicationStrategy {
	case scyllastate.SimpleStrategy:
		want = map[string]string{"replication_factor": strconv.Itoa(cfg.ReplicationFactor)}
	case scyllastate.NetworkTopologyStrategy:
		want = map[string]string{}
		for dc, n := range cfg.DCReplication {
			want[dc] = strconv.Itoa(n)
		}
	}
	same := cfg.ReplicationStrategy == ks.Class && len(want) == len(ks.Options)
	for k, v := range want {
		same = same && ks.Options[k] == v
	}
	if same {
		return ""
	}
	return fmt.Sprintf("the configuration asks for %s, the keyspace has %s: the configuration only applies when a peer creates the keyspace",
		replicationString(diag.KeyspaceInfo{Class: cfg.ReplicationStrategy, Options: want}), replicationString(ks))
}

// replicationString renders a replication: "SimpleStrategy
// {replication_factor: 1}".
func replicationString(ks diag.KeyspaceInfo) string {
	var parts []string
	for _, k := range sortedKeys(ks.Options) {
		parts = append(parts, k+": "+ks.Options[k])
	}
	return ks.Class + " {" + strings.Join(parts, ", ") + "}"
}

// ntsExample renders replication factors of up to 3 per data center.
func ntsExample(dcs []string, nodes map[string]int) string {
	parts := make([]string, 0, len(dcs))
	for _, dc := range dcs {
		parts = append(parts, fmt.Sprintf("'%s': %d", dc, min(3, nodes[dc])))
	}
	return strings.Join(parts, ", ")
}
