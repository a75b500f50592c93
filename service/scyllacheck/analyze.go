package scyllacheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// Thresholds of the findings.
const (
	// ClockWarn: a node clock further from this machine's is a warning.
	ClockWarn = time.Second
	// CertWarn: a server certificate expiring sooner is a warning.
	CertWarn = 30 * 24 * time.Hour
)

// Check gathers the facts, judges them and returns the report, with the
// facts for --json.
func Check(ctx context.Context, o Options) *Report {
	f := Gather(ctx, o)
	r := NewReport(o.State.Keyspace, o.State.Hosts, f.Time, Analyze(f))
	r.Facts = f.JSON()
	return r
}

// ConfigFailure is the report of a check that could not start: the
// configuration cannot be loaded or is not a Scylla peer's.
func ConfigFailure(at time.Time, err error, hint string) *Report {
	return NewReport("", nil, at, []Finding{{Section: SectionConfig, Check: "load", Status: Fail, Message: err.Error(), Hint: hint}})
}

// Analyze judges the facts, section by section. It is a pure function of
// f: the tests give it facts made by hand.
func Analyze(f Facts) []Finding {
	var out []Finding
	for _, section := range []func(Facts) []Finding{analyzeHosts, analyzeCluster, analyzeServer, analyzeKeyspace, analyzeSchema, analyzeReads, analyzeFeed} {
		out = append(out, section(f)...)
	}
	return out
}

// findings collects the findings of one section.
type findings struct {
	section string
	list    []Finding
}

func (fs *findings) add(check, subject string, st Status, msg, hint string) {
	fs.list = append(fs.list, Finding{Section: fs.section, Check: check, Subject: subject, Status: st, Message: msg, Hint: hint})
}

func analyzeHosts(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionHosts}
	dcNodes := nodesPerDC(f.Nodes)
	for _, h := range f.Hosts {
		subj := h.Host
		if h.DialErr != nil {
			fs.add("reach", subj, Fail, h.DialErr.Error(),
				"check that the database runs and serves CQL on this address and port (state.scyllastate.hosts and port) and that no firewall blocks it")
			continue
		}
		fs.add("reach", subj, OK, fmt.Sprintf("TCP connection to %s in %s", h.Address, human(h.DialTime)), "")
		sessionTLS := errors.Is(h.SessionErr, scyllastate.ErrTLS)
		if h.TLS {
			if h.TLSErr != nil {
				fs.add("tls", subj, Fail, h.TLSErr.Error(), "see the reason above; the TLS settings are state.scyllastate.tls (ca_file, cert_file, key_file)")
				continue
			}
			if sessionTLS {
				// With TLS 1.3 a refused client certificate shows only
				// after the handshake (confirmTLS).
				fs.add("tls", subj, Fail, fmt.Sprintf("the %s handshake succeeded, then the server refused the session: %s", h.TLSVersion, h.SessionErr), refusalHint(cfg))
				continue
			}
			msg := fmt.Sprintf("%s, server certificate %q", h.TLSVersion, h.ServerCertSubject)
			st, hint := OK, ""
			if !h.ServerCertExpiry.IsZero() {
				left := h.ServerCertExpiry.Sub(f.Time)
				msg += fmt.Sprintf(" valid until %s", h.ServerCertExpiry.UTC().Format(time.DateOnly))
				if left < CertWarn {
					st, hint = Warn, "renew the node's certificate before it expires: peers cannot connect with an expired one"
					msg += fmt.Sprintf(" (in %s)", human(left))
				}
			}
			fs.add("tls", subj, st, msg, hint)
		}
		if h.SessionErr != nil {
			switch {
			case errors.Is(h.SessionErr, scyllastate.ErrAuth):
				hint := "check state.scyllastate.username and password (or CLUSTER_SCYLLASTATE_USERNAME and CLUSTER_SCYLLASTATE_PASSWORD)"
				if !h.Login {
					hint = "the database requires a login: set state.scyllastate.username and password"
				}
				fs.add("login", subj, Fail, h.SessionErr.Error(), hint)
			case sessionTLS:
				fs.add("tls", subj, Fail, h.SessionErr.Error(), "see the error; the TLS settings are state.scyllastate.tls")
			default:
				hint := "check that a Cassandra or ScyllaDB node serves CQL on this port; its log says why it closed the connection"
				if !h.TLS {
					hint += "; if it requires TLS, set state.scyllastate.tls.enabled"
				}
				fs.add("cql", subj, Fail, h.SessionErr.Error(), hint)
			}
			continue
		}
		switch {
		case h.Login && !h.LoginAsked:
			fs.add("login", subj, Warn, fmt.Sprintf("username %q is configured but the database asks for no login: authentication is off on this node", cfg.Username),
				"turn authentication on (authenticator: PasswordAuthenticator in cassandra.yaml, or scylla.yaml), or remove username and password")
		case h.Login:
			fs.add("login", subj, OK, fmt.Sprintf("logged in as %q", cfg.Username), "")
		default:
			fs.add("login", subj, OK, "no username configured, and the database asks for none", "")
		}
		if h.QueryErr != nil {
			fs.add("data_center", subj, Fail, h.QueryErr.Error(), "the node serves CQL but cannot read its own system tables: see its log")
			continue
		}
		msg := fmt.Sprintf("data center %s, rack %s", h.Local.DataCenter, h.Local.Rack)
		if f.Server == nil || f.Server.Kind != scyllastate.Scylla {
			// ScyllaDB's release_version is always 3.0.8: its version
			// is in the server section.
			msg += ", release " + h.Local.ReleaseVersion
		}
		st, hint := OK, ""
		if cfg.LocalDC != "" && dcNodes[cfg.LocalDC] > 0 && h.Local.DataCenter != cfg.LocalDC {
			st = Warn
			msg += fmt.Sprintf(": not local_dc %s", cfg.LocalDC)
			hint = "list nodes of this peer's own data center (local_dc) in state.scyllastate.hosts"
		}
		fs.add("data_center", subj, st, msg, hint)
		skew := h.ClockSkew
		dir := "ahead of"
		if skew < 0 {
			skew, dir = -skew, "behind"
		}
		if skew > ClockWarn {
			fs.add("clock", subj, Warn, fmt.Sprintf("the node's clock is %s %s this machine's", human(skew), dir),
				"run NTP (chrony or ntpd) on every peer and database node: changes are ordered by the writers' clocks (docs/configuration.md, Clocks)")
		} else {
			fs.add("clock", subj, OK, fmt.Sprintf("clock %s %s this machine's (read in %s)", human(skew), dir, human(h.ClockRTT)), "")
		}
	}
	return fs.list
}

func analyzeCluster(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionCluster}
	if len(f.Nodes) == 0 {
		fs.add("nodes", "", Skip, "no node answered: see the hosts section", "")
		return fs.list
	}
	perDC := nodesPerDC(f.Nodes)
	dcs := sortedKeys(perDC)
	localDCExplains := false // a failed session is explained by local_dc
	var parts []string
	for _, dc := range dcs {
		var addrs []string
		for _, n := range f.Nodes {
			if n.DataCenter == dc {
				addrs = append(addrs, n.Address)
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", dc, strings.Join(addrs, ", ")))
	}
	fs.add("nodes", "", OK, fmt.Sprintf("%s in %s: %s", plural(len(f.Nodes), "node"), plural(len(dcs), "data center"), strings.Join(parts, "; ")), "")

	versions := map[string]bool{}
	for _, n := range f.Nodes {
		if n.SchemaVersion != "" {
			versions[n.SchemaVersion] = true
		}
	}
	if len(versions) > 1 {
		fs.add("schema_agreement", "", Warn, fmt.Sprintf("the nodes disagree on the schema (%d versions): a schema change is still spreading, or a node is down or cut off", len(versions)),
			"`nodetool describecluster` shows which nodes; wait or repair them before starting peers that create or upgrade the schema")
	} else {
		fs.add("schema_agreement", "", OK, "the nodes agree on the schema", "")
	}

	if len(cfg.Hosts) == 1 && len(f.Nodes) > 1 {
		fs.add("contact_points", "", Warn, fmt.Sprintf("state.scyllastate.hosts names 1 contact point for %s: a peer cannot start while it is down", plural(len(f.Nodes), "node")),
			"list two or three nodes (of this peer's data center) in state.scyllastate.hosts")
	}

	switch {
	case cfg.LocalDC != "" && perDC[cfg.LocalDC] > 0:
		fs.add("local_dc", cfg.LocalDC, OK, fmt.Sprintf("local_dc names a data center of %s", plural(perDC[cfg.LocalDC], "node")), "")
		if !cfg.DCAwareRouting && len(dcs) > 1 {
			fs.add("routing", "", Warn, "local_dc is set but dc_aware_routing is off: queries go to coordinators of every data center",
				"set state.scyllastate.dc_aware_routing to true (docs/configuration.md, Routing)")
		}
	case cfg.LocalDC != "":
		st, msg := Warn, fmt.Sprintf("local_dc names no data center of the cluster (it has %s)", strings.Join(dcs, ", "))
		if cfg.DCAwareRouting {
			st, msg = Fail, msg+": with dc_aware_routing the driver refuses to start a session, so the peer cannot start"
			localDCExplains = true
		}
		fs.add("local_dc", cfg.LocalDC, st, msg,
			"set state.scyllastate.local_dc to this peer's data center as the database names it (case-sensitive, as `nodetool status` shows it)")
	case len(dcs) > 1 && cfg.ConsistencyLevel().Local():
		fs.add("routing", "", Warn, fmt.Sprintf("%d data centers and no local_dc: %s is counted in the data center of whichever node coordinates each query", len(dcs), cfg.Consistency),
			"set dc_aware_routing and local_dc on every peer (docs/configuration.md, Routing)")
	}

	anyHost := false
	for _, h := range f.Hosts {
		anyHost = anyHost || h.OK()
	}
	if anyHost && (!f.Connected || f.PlainRouting) && !localDCExplains {
		fs.add("session", "", Fail, fmt.Sprintf("no session with the configured settings: %s", errorText(f.ConnectErr)),
			"the hosts answer one by one but the configured routing or pool does not: see the error")
	}
	if f.PlainRouting {
		fs.add("session", "", Info, "the keyspace and the feed below were read with plain round-robin routing (without dc_aware_routing)", "")
	}
	return fs.list
}

func analyzeKeyspace(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionKeyspace}
	switch {
	case !f.Connected:
		fs.add("exists", cfg.Keyspace, Skip, "not checked: no connection", "")
		return fs.list
	case f.KeyspaceErr != nil:
		fs.add("exists", cfg.Keyspace, Fail, f.KeyspaceErr.Error(), "the database refused to read system_schema: see the error")
		return fs.list
	case !f.Keyspace.Exists:
		fs.add("exists", cfg.Keyspace, Fail, fmt.Sprintf("keyspace %s does not exist", cfg.Keyspace), missingSchemaHint(cfg, true))
		return fs.list
	}
	ks := f.Keyspace
	fs.add("replication", cfg.Keyspace, OK, "replication "+replicationString(*ks), "")
	if !ks.DurableWrites {
		fs.add("durable_writes", cfg.Keyspace, Warn, "durable_writes is false: a node that crashes loses its recent writes",
			fmt.Sprintf("ALTER KEYSPACE %s WITH durable_writes = true", cfg.Keyspace))
	}
	for _, fd := range analyzeReplication(*ks, f.Nodes, downNodes(f.Hosts), cfg) {
		fd.Section = SectionKeyspace
		fs.list = append(fs.list, fd)
	}
	if f.Server != nil && f.Server.Kind == scyllastate.Scylla {
		switch {
		case f.TabletsErr != nil:
			fs.add("tablets", cfg.Keyspace, Warn, f.TabletsErr.Error(),
				"the check could not read system_schema.scylla_keyspaces: see the error (nothing the peers need)")
		case f.Tablets == nil:
		case *f.Tablets:
			fs.add("tablets", cfg.Keyspace, OK, "the keyspace uses tablets: fine, the store uses no lightweight transaction, counter, "+
				"materialized view or secondary index, the features tablets restrict; the change feed's partitions per minute "+
				"(event_partitions) spread its writes over the tablets. Tablets cannot be switched off in an existing keyspace, "+
				"only in a new one (CREATE KEYSPACE ... AND tablets = {'enabled': false})", "")
		default:
			fs.add("tablets", cfg.Keyspace, OK, "the keyspace uses vnodes: fine, the store needs nothing that differs between vnodes and tablets; "+
				"the change feed's partitions per minute (event_partitions) spread its writes over the token ring and the shards. "+
				"Tablets cannot be switched on in an existing keyspace, only in a new one (with the shipped scylla.yaml, new "+
				"NetworkTopologyStrategy keyspaces get them by default)", "")
		}
	}
	return fs.list
}

// analyzeServer reports what the database is and, on ScyllaDB, whether
// the driver reaches each shard directly.
func analyzeServer(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionServer}
	switch {
	case !f.Connected:
		fs.add("server", "", Skip, "not checked: no connection", "")
		return fs.list
	case f.ServerErr != nil:
		fs.add("server", "", Warn, fmt.Sprintf("the server could not be identified: %s; the rest of the check reads it as Apache Cassandra", f.ServerErr),
			"a peer asks the same when it starts (system.versions on ScyllaDB, else system.local) and does not start while that fails: see the error")
		return fs.list
	case f.Server == nil:
		return fs.list
	}
	s := f.Server
	fs.add("server", "", OK, fmt.Sprintf("%s %s", s.Kind, s.Version), "")
	if s.Kind != scyllastate.Scylla {
		return fs.list
	}
	portSetting, defaultPort := "native_shard_aware_transport_port", 19042
	if cfg.TLS != nil && cfg.TLS.Enabled {
		portSetting, defaultPort = "native_shard_aware_transport_port_ssl", 19142
	}
	switch {
	case !s.DriverShardAware:
		fs.add("shard_awareness", "", Fail, "this program's gocql is not ScyllaDB's shard-aware fork: it opens num_conns connections "+
			"per node, which land on shards at random, and most queries take an extra hop from shard to shard",
			"build ipfs-cluster-service with `replace github.com/gocql/gocql => github.com/scylladb/gocql v1.17.0` in its go.mod (see the README)")
	case s.ShardAwarePort == 0:
		fs.add("shard_awareness", "", Warn, fmt.Sprintf("the driver is shard-aware but no node advertises a shard-aware port (%s): "+
			"it still opens one connection per shard, through port %d, where the server picks each connection's shard: "+
			"reaching every shard takes extra connections", portSetting, cfg.Port),
			fmt.Sprintf("set %s: %d in scylla.yaml on every node and restart them (the shipped scylla.yaml sets native_shard_aware_transport_port: 19042 and leaves the TLS one commented out)", portSetting, defaultPort))
	default:
		fs.add("shard_awareness", "", OK, fmt.Sprintf("the driver is shard-aware: one connection per shard of each node through port %d, "+
			"and each query goes to the shard that owns its data (num_conns does not apply)", s.ShardAwarePort), "")
	}
	down := downNodes(f.Hosts)
	for _, p := range f.ShardPorts {
		switch {
		case p.Err == nil:
			fs.add("shard_aware_port", p.Node, OK, fmt.Sprintf("port %d reachable (TCP in %s)", p.Port, human(p.Time)), "")
		case down[p.Node]:
			fs.add("shard_aware_port", p.Node, Skip, fmt.Sprintf("port %d not checked: the node is down (see the hosts section)", p.Port), "")
		case p.RegularErr != nil:
			fs.add("shard_aware_port", p.Node, Warn,
				fmt.Sprintf("neither port %d nor port %d answers from this machine (%s): the node is down, or cut off from here", p.Port, p.RegularPort, p.Err),
				fmt.Sprintf("if the node runs, open ports %d and %d from the peers to it: the driver leaves a node it cannot reach out of its pool", p.RegularPort, p.Port))
		default:
			fs.add("shard_aware_port", p.Node, Warn,
				fmt.Sprintf("port %d unreachable (%s): the driver falls back to port %d, one connection per shard is still opened but through the regular port, "+
					"where the server picks each connection's shard", p.Port, p.Err, p.RegularPort),
				fmt.Sprintf("open port %d (the shard-aware port: 19042, or 19142 with TLS) from the peers to every node, "+
					"or remove %s from scylla.yaml so that the nodes stop advertising it: until then every new connection "+
					"tries it first, for up to connect_timeout where a firewall drops the attempt", p.Port, portSetting))
		}
	}
	return fs.list
}

// missingSchemaHint says how the keyspace or its tables get created.
func missingSchemaHint(cfg *scyllastate.Config, keyspace bool) string {
	if cfg.SchemaMode == scyllastate.SchemaModeCreate {
		if keyspace {
			return "the first peer to start creates it (schema_mode create), with the replication of the configuration: check that replication_strategy and replication_factor (or dc_replication) are what you want first"
		}
		return "the first peer to start creates them (schema_mode create)"
	}
	what := ""
	if keyspace {
		what = fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {...}, then ", cfg.Keyspace)
	}
	return fmt.Sprintf("schema_mode is check, so peers create nothing: %sapply %s (cqlsh -k %s -f schema.cql)", what, scyllastate.SchemaFile, cfg.Keyspace)
}

func analyzeSchema(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionSchema}
	if f.TablesErr != nil {
		fs.add("tables", "", Fail, f.TablesErr.Error(), "")
		return fs.list
	}
	if skip := notChecked(f); skip != "" {
		fs.add("tables", "", Skip, skip, "")
		return fs.list
	}
	if missing := missingTables(f.Tables); len(missing) > 0 {
		fs.add("tables", "", Fail, fmt.Sprintf("missing tables: %s", strings.Join(missing, ", ")), missingSchemaHint(cfg, false))
	} else {
		fs.add("tables", "", OK, fmt.Sprintf("the %d tables of the schema exist", len(scyllastate.RequiredTables())), "")
	}
	switch {
	case f.SchemaErr != nil:
		fs.add("version", "", Fail, f.SchemaErr.Error(),
			fmt.Sprintf("reading the schema version at %s (consistency) failed, as a starting peer's would: see the replication and consistency findings", cfg.Consistency))
	case f.Schema == nil:
		// no schema_version table: reported with the tables
	case !f.Schema.Found:
		fs.add("version", "", Fail, "the keyspace records no schema version", missingSchemaHint(cfg, false))
	default:
		fs.list = append(fs.list, versionFinding(*f.Schema, cfg))
	}
	if t, ok := f.Tables[scyllastate.PinsTable]; ok {
		if t.GCGrace < cfg.EventRetention {
			fs.add("gc_grace", "", Warn,
				fmt.Sprintf("event_retention (%s) exceeds gc_grace_seconds of table %s (%s): an event older than the purge of a later deletion could put back a pin deleted long ago",
					human(cfg.EventRetention), scyllastate.PinsTable, human(t.GCGrace)),
				fmt.Sprintf("lower state.scyllastate.event_retention below %s, or ALTER TABLE %s.%s WITH gc_grace_seconds = %d",
					human(t.GCGrace), cfg.Keyspace, scyllastate.PinsTable, int64(cfg.EventRetention.Seconds())))
		} else {
			fs.add("gc_grace", "", OK, fmt.Sprintf("event_retention (%s) within gc_grace_seconds of table %s (%s)", human(cfg.EventRetention), scyllastate.PinsTable, human(t.GCGrace)), "")
		}
	}
	return fs.list
}

func versionFinding(v diag.SchemaInfo, cfg *scyllastate.Config) Finding {
	fd := Finding{Section: SectionSchema, Check: "version"}
	build := scyllastate.SchemaVersion
	if err := scyllastate.CheckSchemaVersion(cfg.Keyspace, v.Version, v.MinCompatible); err != nil {
		fd.Status, fd.Message = Fail, err.Error()
		if v.Version < build {
			fd.Hint = "start a peer of this build with schema_mode create (it upgrades the keyspace), or apply " + strings.Join(scyllastate.SchemaUpdateFiles(v.Version), ", ")
		} else {
			fd.Hint = "upgrade ipfs-cluster-service to a build of schema version " + fmt.Sprint(v.MinCompatible) + " or newer"
		}
		return fd
	}
	switch {
	case v.Version < build && cfg.SchemaMode == scyllastate.SchemaModeCreate:
		fd.Status = Warn
		fd.Message = fmt.Sprintf("schema version %d; this build uses %d: the first peer of this build to start upgrades the keyspace in place", v.Version, build)
		fd.Hint = "nothing to do if that is intended; peers of older builds keep working while it stays compatible (min_compatible)"
	case v.Version < build:
		fd.Status = Fail
		fd.Message = fmt.Sprintf("schema version %d; this build needs %d and schema_mode is check: its peers refuse to start", v.Version, build)
		fd.Hint = "apply " + strings.Join(scyllastate.SchemaUpdateFiles(v.Version), ", ") + " with cqlsh -k " + cfg.Keyspace + " -f FILE"
	case v.Version > build:
		fd.Status = Warn
		fd.Message = fmt.Sprintf("schema version %d is newer than this build's %d (it can still use it)", v.Version, build)
		fd.Hint = "upgrade ipfs-cluster-service on this peer"
	default:
		fd.Status = OK
		fd.Message = fmt.Sprintf("schema version %d, as this build (compatible from %d)", v.Version, v.MinCompatible)
	}
	return fd
}

func analyzeReads(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionReads}
	if skip := notChecked(f); skip != "" {
		fs.add("latency", "", Skip, skip, "")
		return fs.list
	}
	if _, ok := f.Tables[scyllastate.PinsTable]; !ok {
		fs.add("latency", "", Skip, "not checked: no pins table", "")
		return fs.list
	}
	if f.ReadErr != nil {
		fs.add("latency", "", Fail, fmt.Sprintf("read %d of the probe failed: %s", len(f.Reads)+1, f.ReadErr),
			"replicas cannot answer at this consistency: see the cluster and keyspace findings (nodes down, replication, consistency)")
		return fs.list
	}
	p50, mx := percentiles(f.Reads)
	msg := fmt.Sprintf("%d reads of a pin row at %s: median %s, max %s", len(f.Reads), cfg.Consistency, human(p50), human(mx))
	if mx > cfg.Timeout/4 {
		fs.add("latency", "", Warn, msg+fmt.Sprintf(", more than a quarter of timeout (%s)", human(cfg.Timeout)),
			"overloaded nodes, a coordinator in another data center (local_dc, dc_aware_routing) or the network; compare with ipfscluster_scyllastate_operation_duration_seconds")
		return fs.list
	}
	fs.add("latency", "", OK, msg, "")
	return fs.list
}

func analyzeFeed(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionFeed}
	if skip := notChecked(f); skip != "" {
		fs.add("newest_event", "", Skip, skip, "")
		return fs.list
	}
	if _, ok := f.Tables[scyllastate.EventsTable]; !ok {
		fs.add("newest_event", "", Skip, "not checked: no change feed table", "")
		return fs.list
	}
	switch e := f.Newest; {
	case f.NewestErr != nil:
		fs.add("newest_event", "", Fail, f.NewestErr.Error(), "reads of the change feed fail: peers cannot learn of changes; see the reads and keyspace findings")
	case e == nil:
		fs.add("newest_event", "", Info, fmt.Sprintf("no change in the last %s", human(f.FeedWindow)), "")
	default:
		age := f.Time.Sub(e.Time())
		what := "an unreadable event"
		if e.Cid.Defined() {
			what = fmt.Sprintf("%s %s", e.Op, e.Cid)
		}
		if e.Writer != "" {
			what += " by " + e.Writer
		}
		if age < -ClockWarn {
			fs.add("newest_event", "", Warn, fmt.Sprintf("the newest event is %s in the future (%s): its writer's clock runs ahead", human(-age), what),
				"run NTP on every peer: a writer whose clock runs ahead wins over newer changes of the others (docs/configuration.md, Clocks)")
		} else {
			fs.add("newest_event", "", OK, fmt.Sprintf("newest event %s ago, at %s: %s", human(max(age, 0)), e.Time().UTC().Format(time.RFC3339), what), "")
		}
	}
	fs.list = append(fs.list, layoutFindings(f)...)
	switch {
	case f.WritersErr != nil:
		fs.add("positions", "", Fail, f.WritersErr.Error(), "")
		return fs.list
	case !f.WritersRead:
		return fs.list
	case len(f.Writers) == 0:
		fs.add("positions", "", Info, "no peer has read the change feed of this keyspace yet", "")
	}
	ws := sortedWriters(f.Writers)
	var alive []string
	for _, w := range ws {
		if !w.Position.IsZero() && f.Time.Sub(w.Position) < f.AliveWithin {
			alive = append(alive, w.ID)
		}
	}
	selfSeen := false
	for _, w := range ws {
		self := w.ID == f.Self && f.Self != ""
		selfSeen = selfSeen || self
		// The subject stays the ID, for machines; people read "this
		// peer" in the message.
		add := func(check string, st Status, msg, hint string) {
			if self {
				msg = "this peer " + msg
			}
			fs.add(check, w.ID, st, msg, hint)
		}
		running := !w.Heartbeat.IsZero() && !w.Closed && f.Time.Sub(w.Heartbeat) <= scyllastate.WriterTimeout
		if !w.Position.IsZero() {
			behind := f.Time.Sub(w.Position)
			switch {
			case behind < f.AliveWithin:
				add("position", OK, fmt.Sprintf("follows the feed: position %s behind", human(max(behind, 0))), "")
			case running:
				add("position", Warn, fmt.Sprintf("runs (heartbeat %s ago) but its feed position is %s behind: it does not keep up with the feed or cannot save its position", human(f.Time.Sub(w.Heartbeat)), human(behind)),
					"see that peer's log and its ipfscluster_scylla_feed_lag_seconds metric")
			case behind > cfg.EventRetention:
				add("position", Info, fmt.Sprintf("stopped: position %s behind, more than event_retention (%s); if it comes back, pins removed before then may stay pinned on its IPFS daemon", human(behind), human(cfg.EventRetention)), "")
			default:
				state := "stopped"
				if w.Closed {
					state = "stopped cleanly"
				}
				add("position", Info, fmt.Sprintf("%s: position %s behind; it catches up when it starts", state, human(behind)), "")
			}
		} else if !w.Stale(f.Time) {
			state := "running"
			if !running {
				state = "stopped"
			}
			add("position", Info, fmt.Sprintf("writer without a feed position (a state import or another tool), %s", state), "")
		}
		if w.Stale(f.Time) {
			hint := "no peer is alive to complete it: start any peer of the cluster (the writer itself completes its writes when it restarts)"
			if len(alive) > 0 {
				hint = fmt.Sprintf("the live peer with the smallest ID (%s) completes it every %s; if this stays, see that peer's log", alive[0], human(scyllastate.WriterTimeout/2))
			}
			add("stale_writer", Warn,
				fmt.Sprintf("stopped sending heartbeats %s ago without closing: the pin rows of changes it wrote after %s may be missing until a peer completes them",
					human(f.Time.Sub(w.Heartbeat)), w.SafeBefore.UTC().Format(time.RFC3339)),
				hint)
		}
	}
	if f.Self != "" && !selfSeen {
		fs.add("position", f.Self, Info, "this peer has no feed position in this keyspace yet: it has not run against it", "")
	}
	return fs.list
}

// legacyPartitions are the partitions per minute of a keyspace without a
// layout (schema versions 1 to 3; see scyllastate's Feed.Layout).
const legacyPartitions = 4

// layoutAt returns the partitions per minute of the bucket at t, the
// count the newest entry sets (what a peer compares event_partitions
// with) and the entries that start after t, oldest first.
func layoutAt(layout []scyllastate.LayoutEntry, t time.Time) (now, newest int, scheduled []scyllastate.LayoutEntry) {
	now = legacyPartitions
	for _, e := range layout {
		if e.From.After(t) {
			scheduled = append(scheduled, e)
		} else {
			now = e.Partitions
		}
	}
	newest = now
	if len(scheduled) > 0 {
		newest = scheduled[len(scheduled)-1].Partitions
	}
	return now, newest, scheduled
}

// layoutFindings reports the change feed's layout: its partitions per
// minute now and any scheduled change, and whether event_partitions
// agrees.
func layoutFindings(f Facts) []Finding {
	cfg := f.Config
	fs := &findings{section: SectionFeed}
	switch {
	case f.LayoutErr != nil:
		fs.add("layout", "", Fail, f.LayoutErr.Error(),
			"peers cannot write or read the change feed without its layout: see the reads and keyspace findings")
		return fs.list
	case !f.LayoutRead:
		if _, ok := f.Tables[layoutTable]; !ok {
			fs.add("layout", "", Skip, fmt.Sprintf("not checked: no %s table (see the schema section)", layoutTable), "")
		}
		return fs.list
	}
	now, newest, scheduled := layoutAt(f.Layout, f.Time)
	msg := fmt.Sprintf("%d partitions per minute", now)
	if len(f.Layout) == 0 {
		msg += " (no layout recorded: the layout of schema versions 1 to 3)"
	}
	for _, e := range scheduled {
		msg += fmt.Sprintf("; scheduled: %d from %s (in %s)", e.Partitions, e.From.UTC().Format(time.RFC3339), human(e.From.Sub(f.Time)))
	}
	fs.add("layout", "", OK, msg, "")
	if cfg.EventPartitions != newest {
		when := ""
		if len(scheduled) > 0 {
			when = " from " + scheduled[len(scheduled)-1].From.UTC().Format(time.RFC3339)
		}
		fs.add("event_partitions", "", Warn,
			fmt.Sprintf("state.scyllastate.event_partitions is %d but keyspace %s records %d partitions per minute%s: peers use the keyspace's layout; the setting only applies when a peer creates the keyspace",
				cfg.EventPartitions, cfg.Keyspace, newest, when),
			fmt.Sprintf("to change the keyspace's, run `ipfs-cluster-service scylla event-partitions %d` once (it schedules the change ahead, so that every peer knows it in time); otherwise set event_partitions to %d",
				cfg.EventPartitions, newest))
	}
	return fs.list
}

// notChecked says why the keyspace's contents could not be checked, or
// "" when they could.
func notChecked(f Facts) string {
	switch {
	case !f.Connected:
		return "not checked: no connection"
	case f.Keyspace == nil:
		return "not checked: the keyspace could not be read"
	case !f.Keyspace.Exists:
		return "not checked: no keyspace"
	case f.Tables == nil:
		return "not checked: the tables could not be read (see the schema section)"
	}
	return ""
}

// downNodes are the addresses of contact points that did not answer:
// nothing accepts TCP, or no CQL session starts for a reason other than
// credentials or TLS, and no other entry of the same address answered
// (a wrong port says nothing about the node).
func downNodes(hosts []diag.HostReport) map[string]bool {
	down, up := map[string]bool{}, map[string]bool{}
	for _, h := range hosts {
		ip, _, err := net.SplitHostPort(h.Address)
		if err != nil {
			continue
		}
		switch {
		case h.DialErr != nil || (h.SessionErr != nil && !errors.Is(h.SessionErr, scyllastate.ErrAuth) && !errors.Is(h.SessionErr, scyllastate.ErrTLS)):
			down[ip] = true
		case h.SessionErr == nil && h.TLSErr == nil:
			up[ip] = true
		}
	}
	for ip := range up {
		delete(down, ip)
	}
	return down
}

// nodesPerDC counts the nodes of each data center.
func nodesPerDC(nodes []diag.Node) map[string]int {
	out := map[string]int{}
	for _, n := range nodes {
		if n.DataCenter != "" {
			out[n.DataCenter]++
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// human renders a duration for people: 0.4ms, 12ms, 3.2s, 5m10s, 2h3m,
// 7d, 7d12h.
func human(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + human(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute && d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return unitPair(d.Round(time.Second), time.Minute, "m", time.Second, "s")
	case d < 48*time.Hour:
		return unitPair(d.Round(time.Minute), time.Hour, "h", time.Minute, "m")
	}
	return unitPair(d.Round(time.Hour), 24*time.Hour, "d", time.Hour, "h")
}

// unitPair renders d as whole big units and the small units left: "5m",
// "5m20s".
func unitPair(d, big time.Duration, bigName string, small time.Duration, smallName string) string {
	out := fmt.Sprintf("%d%s", d/big, bigName)
	if rest := (d % big) / small; rest > 0 {
		out += fmt.Sprintf("%d%s", rest, smallName)
	}
	return out
}
