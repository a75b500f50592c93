package scyllacheck

import (
	"errors"
	"sort"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// FactsJSON are the measurements of a check, for machines. Durations are
// in milliseconds (_ms) or seconds (_seconds), times in RFC 3339 (UTC).
type FactsJSON struct {
	Hosts    []HostJSON    `json:"hosts"`
	Nodes    []NodeJSON    `json:"nodes"`
	Server   *ServerJSON   `json:"server,omitempty"`
	Keyspace *KeyspaceJSON `json:"keyspace,omitempty"`
	Schema   *SchemaJSON   `json:"schema,omitempty"`
	Reads    *ReadsJSON    `json:"reads,omitempty"`
	Feed     *FeedJSON     `json:"feed,omitempty"`
}

// HostJSON is one contact point.
type HostJSON struct {
	Host    string `json:"host"`
	Address string `json:"address,omitempty"`
	// Reachable: TCP connected.
	Reachable bool     `json:"reachable"`
	TCPMs     float64  `json:"tcp_ms,omitempty"`
	TLS       *TLSJSON `json:"tls,omitempty"`
	// Login is "ok" (logged in), "failed" (refused), "none" (no
	// username, none asked), "unused" (a username, none asked), or ""
	// when not reached.
	Login          string   `json:"login,omitempty"`
	Username       string   `json:"username,omitempty"`
	DataCenter     string   `json:"data_center,omitempty"`
	Rack           string   `json:"rack,omitempty"`
	ReleaseVersion string   `json:"release_version,omitempty"`
	ClockSkewMs    *float64 `json:"clock_skew_ms,omitempty"`
	// Error is the first step that failed.
	Error string `json:"error,omitempty"`
}

// TLSJSON is the TLS handshake with one host.
type TLSJSON struct {
	Version           string     `json:"version,omitempty"`
	ServerCertSubject string     `json:"server_cert_subject,omitempty"`
	ServerCertExpiry  *time.Time `json:"server_cert_expiry,omitempty"`
	Error             string     `json:"error,omitempty"`
}

// NodeJSON is one node of the database cluster.
type NodeJSON struct {
	Address        string `json:"address"`
	HostID         string `json:"host_id,omitempty"`
	DataCenter     string `json:"data_center"`
	Rack           string `json:"rack,omitempty"`
	ReleaseVersion string `json:"release_version,omitempty"`
	SchemaVersion  string `json:"schema_version,omitempty"`
}

// ServerJSON is what the database server is and how the driver talks to
// it.
type ServerJSON struct {
	// Kind is "scylla" or "cassandra"; empty when Error says why it
	// could not be told.
	Kind string `json:"kind,omitempty"`
	// Version is ScyllaDB's own version, or Cassandra's release_version.
	Version string `json:"version,omitempty"`
	// DriverShardAware: this program's gocql is ScyllaDB's shard-aware
	// fork.
	DriverShardAware bool `json:"driver_shard_aware"`
	// ShardAwarePort is the port the nodes advertise (0: none).
	ShardAwarePort uint16 `json:"shard_aware_port,omitempty"`
	// ShardAwarePorts are the TCP probes of that port, one per node.
	ShardAwarePorts []PortJSON `json:"shard_aware_ports,omitempty"`
	Error           string     `json:"error,omitempty"`
}

// PortJSON is a TCP probe of one node's port.
type PortJSON struct {
	Address   string  `json:"address"`
	Reachable bool    `json:"reachable"`
	TCPMs     float64 `json:"tcp_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// KeyspaceJSON is the keyspace and its replication.
type KeyspaceJSON struct {
	Name          string            `json:"name"`
	Exists        bool              `json:"exists"`
	Class         string            `json:"class,omitempty"`
	Replication   map[string]string `json:"replication,omitempty"`
	DurableWrites bool              `json:"durable_writes,omitempty"`
	// Tablets tells, on ScyllaDB only, whether the keyspace uses
	// tablets (false: vnodes).
	Tablets *bool `json:"tablets,omitempty"`
}

// SchemaJSON is the recorded schema version and the tables.
type SchemaJSON struct {
	// Found: the keyspace records a version.
	Found              bool     `json:"found"`
	Version            int      `json:"version,omitempty"`
	MinCompatible      int      `json:"min_compatible,omitempty"`
	BuildVersion       int      `json:"build_version"`
	BuildMinCompatible int      `json:"build_min_compatible"`
	MissingTables      []string `json:"missing_tables,omitempty"`
	// PinsGCGraceSeconds is gc_grace_seconds of the pins table.
	PinsGCGraceSeconds    float64 `json:"pins_gc_grace_seconds,omitempty"`
	EventRetentionSeconds float64 `json:"event_retention_seconds"`
}

// ReadsJSON is the latency probe.
type ReadsJSON struct {
	Consistency string  `json:"consistency"`
	Count       int     `json:"count"`
	P50Ms       float64 `json:"p50_ms"`
	MaxMs       float64 `json:"max_ms"`
	Error       string  `json:"error,omitempty"`
}

// FeedJSON is the change feed.
type FeedJSON struct {
	WindowSeconds float64 `json:"window_seconds"`
	// NewestEvent is null when no event is more recent than the window.
	NewestEvent *EventJSON `json:"newest_event"`
	// AliveWithinSeconds: a peer whose position is more recent is taken
	// for alive.
	AliveWithinSeconds float64    `json:"alive_within_seconds"`
	Peers              []PeerJSON `json:"peers"`
	// PartitionsPerMinute is the feed's partitions per bucket now, and
	// Layout the recorded layout, scheduled changes included (empty: 4
	// partitions per minute, the layout of schema versions 1 to 3). Both
	// are left out when the layout could not be read.
	PartitionsPerMinute *int         `json:"partitions_per_minute,omitempty"`
	Layout              []LayoutJSON `json:"layout,omitempty"`
	Error               string       `json:"error,omitempty"`
}

// LayoutJSON is one entry of the change feed's layout: from From on,
// Partitions partitions per minute.
type LayoutJSON struct {
	From       time.Time `json:"from"`
	Partitions int       `json:"partitions"`
}

// EventJSON is one event of the change feed.
type EventJSON struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	AgeSeconds float64   `json:"age_seconds"`
	Cid        string    `json:"cid,omitempty"`
	Op         string    `json:"op,omitempty"`
	Writer     string    `json:"writer,omitempty"`
}

// PeerJSON is one row of the feed positions and heartbeats: a peer, or
// another writer (a state import).
type PeerJSON struct {
	ID   string `json:"id"`
	Self bool   `json:"self,omitempty"`
	// Position is the feed checkpoint; BehindSeconds is now minus it.
	Position      *time.Time `json:"position,omitempty"`
	BehindSeconds *float64   `json:"behind_seconds,omitempty"`
	// Alive: the position is recent enough (alive_within_seconds).
	Alive               bool       `json:"alive"`
	Heartbeat           *time.Time `json:"heartbeat,omitempty"`
	HeartbeatAgeSeconds *float64   `json:"heartbeat_age_seconds,omitempty"`
	SafeBefore          *time.Time `json:"safe_before,omitempty"`
	Closed              bool       `json:"closed"`
	// Stale: a writer that died without closing, not completed yet.
	Stale      bool   `json:"stale"`
	DataCenter string `json:"data_center,omitempty"`
}

// JSON returns the measurements of f.
func (f *Facts) JSON() *FactsJSON {
	cfg := f.Config
	out := &FactsJSON{Hosts: []HostJSON{}, Nodes: []NodeJSON{}}
	for _, h := range f.Hosts {
		out.Hosts = append(out.Hosts, hostJSON(h, cfg.Username))
	}
	for _, n := range f.Nodes {
		out.Nodes = append(out.Nodes, NodeJSON(n))
	}
	out.Server = f.serverJSON()
	if ks := f.Keyspace; ks != nil {
		out.Keyspace = &KeyspaceJSON{Name: ks.Name, Exists: ks.Exists, Class: ks.Class, Replication: ks.Options, DurableWrites: ks.DurableWrites, Tablets: f.Tablets}
	}
	if f.Tables != nil {
		s := &SchemaJSON{
			BuildVersion:          scyllastate.SchemaVersion,
			BuildMinCompatible:    scyllastate.MinCompatibleSchemaVersion,
			MissingTables:         missingTables(f.Tables),
			EventRetentionSeconds: cfg.EventRetention.Seconds(),
		}
		if t, ok := f.Tables[scyllastate.PinsTable]; ok {
			s.PinsGCGraceSeconds = t.GCGrace.Seconds()
		}
		if v := f.Schema; v != nil {
			s.Found, s.Version, s.MinCompatible = v.Found, v.Version, v.MinCompatible
		}
		out.Schema = s
	}
	if len(f.Reads) > 0 || f.ReadErr != nil {
		p50, mx := percentiles(f.Reads)
		out.Reads = &ReadsJSON{Consistency: cfg.Consistency, Count: len(f.Reads), P50Ms: ms(p50), MaxMs: ms(mx), Error: errorText(f.ReadErr)}
	}
	if f.Tables != nil {
		out.Feed = f.feedJSON()
	}
	return out
}

func hostJSON(h diag.HostReport, username string) HostJSON {
	j := HostJSON{Host: h.Host, Address: h.Address, Reachable: h.Address != "" && h.DialErr == nil}
	if j.Reachable {
		j.TCPMs = ms(h.DialTime)
	}
	if h.TLS && j.Reachable {
		t := &TLSJSON{Version: h.TLSVersion, ServerCertSubject: h.ServerCertSubject, Error: errorText(h.TLSErr)}
		if h.TLSErr == nil && errors.Is(h.SessionErr, scyllastate.ErrTLS) {
			t.Error = h.SessionErr.Error() // refused after the handshake
		}
		if !h.ServerCertExpiry.IsZero() {
			exp := h.ServerCertExpiry.UTC()
			t.ServerCertExpiry = &exp
		}
		j.TLS = t
	}
	if j.Reachable && h.TLSErr == nil {
		switch {
		case errors.Is(h.SessionErr, scyllastate.ErrAuth):
			j.Login = "failed"
		case h.SessionErr != nil:
		case !h.Login:
			j.Login = "none"
		case !h.LoginAsked:
			j.Login = "unused"
		default:
			j.Login = "ok"
		}
		j.Username = username
	}
	if h.SessionErr == nil && h.QueryErr == nil && j.Reachable && h.TLSErr == nil {
		j.DataCenter, j.Rack, j.ReleaseVersion = h.Local.DataCenter, h.Local.Rack, h.Local.ReleaseVersion
		skew := ms(h.ClockSkew)
		j.ClockSkewMs = &skew
	}
	for _, err := range []error{h.DialErr, h.TLSErr, h.SessionErr, h.QueryErr} {
		if err != nil {
			j.Error = err.Error()
			break
		}
	}
	return j
}

// serverJSON is nil when there was no connection.
func (f *Facts) serverJSON() *ServerJSON {
	switch {
	case f.ServerErr != nil:
		return &ServerJSON{Error: f.ServerErr.Error()}
	case f.Server == nil:
		return nil
	}
	s := f.Server
	j := &ServerJSON{Kind: "cassandra", Version: s.Version, DriverShardAware: s.DriverShardAware, ShardAwarePort: s.ShardAwarePort}
	if s.Kind == scyllastate.Scylla {
		j.Kind = "scylla"
	}
	for _, p := range f.ShardPorts {
		pj := PortJSON{Address: p.Address(), Reachable: p.Err == nil, Error: errorText(p.Err)}
		if p.Err == nil {
			pj.TCPMs = ms(p.Time)
		}
		j.ShardAwarePorts = append(j.ShardAwarePorts, pj)
	}
	return j
}

func (f *Facts) feedJSON() *FeedJSON {
	j := &FeedJSON{WindowSeconds: f.FeedWindow.Seconds(), AliveWithinSeconds: f.AliveWithin.Seconds(), Peers: []PeerJSON{}}
	if e := f.Newest; e != nil {
		ej := &EventJSON{ID: e.ID.String(), Time: e.Time().UTC(), AgeSeconds: f.Time.Sub(e.Time()).Seconds(), Writer: e.Writer}
		if e.Cid.Defined() {
			ej.Cid = e.Cid.String()
			ej.Op = e.Op.String()
		}
		j.NewestEvent = ej
	}
	for _, w := range sortedWriters(f.Writers) {
		p := PeerJSON{ID: w.ID, Self: w.ID == f.Self && f.Self != "", Closed: w.Closed, Stale: w.Stale(f.Time), DataCenter: w.DataCenter}
		if !w.Position.IsZero() {
			pos := w.Position.UTC()
			behind := f.Time.Sub(w.Position).Seconds()
			p.Position, p.BehindSeconds = &pos, &behind
			p.Alive = f.Time.Sub(w.Position) < f.AliveWithin
		}
		if !w.Heartbeat.IsZero() {
			hb := w.Heartbeat.UTC()
			age := f.Time.Sub(w.Heartbeat).Seconds()
			p.Heartbeat, p.HeartbeatAgeSeconds = &hb, &age
		}
		if !w.SafeBefore.IsZero() {
			sb := w.SafeBefore.UTC()
			p.SafeBefore = &sb
		}
		j.Peers = append(j.Peers, p)
	}
	if f.LayoutRead {
		now, _, _ := layoutAt(f.Layout, f.Time)
		j.PartitionsPerMinute = &now
		for _, e := range f.Layout {
			j.Layout = append(j.Layout, LayoutJSON{From: e.From.UTC(), Partitions: e.Partitions})
		}
	}
	errs := errors.Join(f.NewestErr, f.LayoutErr, f.WritersErr)
	j.Error = errorText(errs)
	return j
}

// sortedWriters orders the rows by ID.
func sortedWriters(ws []scyllastate.WriterInfo) []scyllastate.WriterInfo {
	out := append([]scyllastate.WriterInfo(nil), ws...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// missingTables lists the tables of this build's schema that are absent.
func missingTables(have map[string]diag.TableInfo) []string {
	var out []string
	for _, t := range scyllastate.RequiredTables() {
		if _, ok := have[t]; !ok {
			out = append(out, t)
		}
	}
	return out
}

// percentiles returns the median and the maximum.
func percentiles(ds []time.Duration) (p50, mx time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2], s[len(s)-1]
}
