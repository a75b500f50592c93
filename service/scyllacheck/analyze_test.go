package scyllacheck

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testConfig() *scyllastate.Config {
	cfg := &scyllastate.Config{Hosts: []string{"10.0.0.1"}, Keyspace: "pins"}
	_ = cfg.Default()
	return cfg
}

func node(addr, dc string) diag.Node {
	return diag.Node{Address: addr, HostID: "id-" + addr, DataCenter: dc, Rack: "r1", ReleaseVersion: "5.0.8", SchemaVersion: "s1"}
}

func hostOK(addr, dc string) diag.HostReport {
	return diag.HostReport{Host: addr, Address: addr + ":9042", DialTime: time.Millisecond, Local: node(addr, dc), ClockRTT: time.Millisecond}
}

func allTables() map[string]diag.TableInfo {
	out := map[string]diag.TableInfo{}
	for _, t := range scyllastate.RequiredTables() {
		out[t] = diag.TableInfo{Name: t, GCGrace: 10 * 24 * time.Hour}
	}
	return out
}

// healthy are the facts of a one-node cluster with a current keyspace and
// one live peer.
func healthy() Facts {
	cfg := testConfig()
	return Facts{
		Time:        now,
		Config:      cfg,
		Self:        "peerA",
		AliveWithin: 3 * time.Minute,
		Hosts:       []diag.HostReport{hostOK("10.0.0.1", "dc1")},
		Nodes:       []diag.Node{node("10.0.0.1", "dc1")},
		Connected:   true,
		Server:      &scyllastate.ServerInfo{Kind: scyllastate.Cassandra, Version: "5.0.8", DriverShardAware: true},
		Keyspace: &diag.KeyspaceInfo{Name: "pins", Exists: true, Class: scyllastate.SimpleStrategy,
			Options: map[string]string{"replication_factor": "1"}, DurableWrites: true},
		Tables:      allTables(),
		Schema:      &diag.SchemaInfo{Found: true, Version: scyllastate.SchemaVersion, MinCompatible: scyllastate.MinCompatibleSchemaVersion},
		Reads:       []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Millisecond},
		Layout:      []scyllastate.LayoutEntry{{From: scyllastate.BucketStart(0), Partitions: cfg.EventPartitions}},
		LayoutRead:  true,
		FeedWindow:  time.Hour,
		WritersRead: true,
		Writers: []scyllastate.WriterInfo{
			{ID: "peerA", Position: now.Add(-70 * time.Second), Heartbeat: now.Add(-5 * time.Second), SafeBefore: now.Add(-5 * time.Second)},
		},
	}
}

// find returns the findings of a check (and subject, when given).
func find(fs []Finding, check string, subject ...string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Check == check && (len(subject) == 0 || f.Subject == subject[0]) {
			out = append(out, f)
		}
	}
	return out
}

// one requires exactly one finding of check with status st, and returns
// it.
func one(t *testing.T, fs []Finding, st Status, check string, subject ...string) Finding {
	t.Helper()
	got := find(fs, check, subject...)
	if len(got) != 1 || got[0].Status != st {
		t.Fatalf("want one %s finding %q %v, got %+v\nall findings:\n%s", st, check, subject, got, dump(fs))
	}
	return got[0]
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s/%s [%s] %s (hint: %s)\n", f.Status, f.Section, f.Check, f.Subject, f.Message, f.Hint)
	}
	return b.String()
}

func TestHealthyFactsAreOK(t *testing.T) {
	fs := Analyze(healthy())
	r := NewReport("pins", []string{"10.0.0.1"}, now, fs)
	if r.Verdict != OK {
		t.Fatalf("verdict %s, want OK:\n%s", r.Verdict, dump(fs))
	}
	for _, check := range []string{"reach", "login", "data_center", "clock", "nodes", "server", "replication", "consistency", "tables", "version", "gc_grace", "latency", "layout", "position"} {
		if len(find(fs, check)) == 0 {
			t.Errorf("no %q finding in a healthy report:\n%s", check, dump(fs))
		}
	}
	if got := one(t, fs, OK, "position", "peerA"); !strings.Contains(got.Message, "1m10s behind") {
		t.Errorf("position message %q does not say how far behind", got.Message)
	}
	if got := one(t, fs, Info, "newest_event"); !strings.Contains(got.Message, "no change in the last 1h") {
		t.Errorf("newest_event: %q", got.Message)
	}
}

func TestHostFailures(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(h *diag.HostReport, cfg *scyllastate.Config)
		st     Status
		check  string
		inHint string
	}{
		{"unreachable", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.DialErr = fmt.Errorf("%w: TCP to 10.0.0.1:9042: connection refused", scyllastate.ErrConnect)
		}, Fail, "reach", "firewall"},
		{"wrong password", func(h *diag.HostReport, cfg *scyllastate.Config) {
			h.Login, h.LoginAsked, cfg.Username, cfg.Password = true, true, "cassandra", "hunter2"
			h.SessionErr = fmt.Errorf("%w: bad credentials", scyllastate.ErrAuth)
		}, Fail, "login", "username and password"},
		{"login required", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.SessionErr = fmt.Errorf("%w: authentication required", scyllastate.ErrAuth)
		}, Fail, "login", "requires a login"},
		{"no TLS on the server", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.TLS = true
			h.TLSErr = fmt.Errorf("%w: the server does not speak TLS", scyllastate.ErrTLS)
		}, Fail, "tls", "state.scyllastate.tls"},
		{"client certificate refused", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.TLS, h.TLSVersion = true, "TLS 1.3"
			h.SessionErr = fmt.Errorf("%w: remote error: tls: certificate required", scyllastate.ErrTLS)
		}, Fail, "tls", "client certificate"},
		{"server expects TLS", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.SessionErr = fmt.Errorf("%w: EOF", scyllastate.ErrConnect)
		}, Fail, "cql", "tls.enabled"},
		{"certificate expiring", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.TLS, h.TLSVersion, h.ServerCertExpiry = true, "TLS 1.3", now.Add(10*24*time.Hour)
		}, Warn, "tls", "renew"},
		{"credentials unused", func(h *diag.HostReport, cfg *scyllastate.Config) {
			h.Login, cfg.Username, cfg.Password = true, "cassandra", "hunter2"
		}, Warn, "login", "turn authentication on"},
		{"clock ahead", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.ClockSkew = 3 * time.Second
		}, Warn, "clock", "NTP"},
		{"clock behind", func(h *diag.HostReport, _ *scyllastate.Config) {
			h.ClockSkew = -2 * time.Second
		}, Warn, "clock", "NTP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := healthy()
			c.mod(&f.Hosts[0], f.Config)
			fs := Analyze(f)
			got := one(t, fs, c.st, c.check, "10.0.0.1")
			if !strings.Contains(got.Hint, c.inHint) {
				t.Errorf("hint %q lacks %q", got.Hint, c.inHint)
			}
			if strings.Contains(dump(fs), "hunter2") {
				t.Errorf("the report shows the password:\n%s", dump(fs))
			}
		})
	}
}

func TestDownNodes(t *testing.T) {
	refused := fmt.Errorf("%w: refused", scyllastate.ErrConnect)
	hosts := []diag.HostReport{
		{Host: "10.0.0.1", Address: "10.0.0.1:9042"},
		{Host: "10.0.0.1:1", Address: "10.0.0.1:1", DialErr: refused}, // a wrong port of a node that answers
		{Host: "10.0.0.2", Address: "10.0.0.2:9042", DialErr: refused},
		{Host: "10.0.0.3", Address: "10.0.0.3:9042", SessionErr: fmt.Errorf("%w: bad credentials", scyllastate.ErrAuth)},
		{Host: "[::1]:9042", Address: "[::1]:9042", SessionErr: refused},
		{Host: "nowhere.invalid", DialErr: refused},
	}
	got := downNodes(hosts)
	if len(got) != 2 || !got["10.0.0.2"] || !got["::1"] {
		t.Errorf("down nodes %v, want 10.0.0.2 and ::1", got)
	}
}

func TestClockDirection(t *testing.T) {
	f := healthy()
	f.Hosts[0].ClockSkew = -2 * time.Second
	if got := one(t, Analyze(f), Warn, "clock"); !strings.Contains(got.Message, "2s behind") {
		t.Errorf("clock message %q", got.Message)
	}
}

func TestLocalDC(t *testing.T) {
	t.Run("unknown, dc-aware", func(t *testing.T) {
		f := healthy()
		f.Config.LocalDC, f.Config.DCAwareRouting = "DC1", true
		// The driver refuses the session; the rest is read without
		// dc_aware_routing.
		f.ConnectErr, f.PlainRouting = errors.New("datacenter DC1 in the policy was not found"), true
		fs := Analyze(f)
		got := one(t, fs, Fail, "local_dc", "DC1")
		if !strings.Contains(got.Message, "dc1") || !strings.Contains(got.Hint, "case-sensitive") {
			t.Errorf("local_dc finding %+v does not list the real data centers", got)
		}
		if got := one(t, fs, Info, "session"); !strings.Contains(got.Message, "round-robin") {
			t.Errorf("session: %+v", got)
		}
		if r := NewReport("pins", nil, now, fs); r.Failures != 1 {
			t.Errorf("%d failures, want 1 (local_dc explains the session):\n%s", r.Failures, dump(fs))
		}
	})
	t.Run("unknown, not dc-aware", func(t *testing.T) {
		f := healthy()
		f.Config.LocalDC = "nowhere"
		one(t, Analyze(f), Warn, "local_dc", "nowhere")
	})
	t.Run("real", func(t *testing.T) {
		f := healthy()
		f.Config.LocalDC, f.Config.DCAwareRouting = "dc1", true
		one(t, Analyze(f), OK, "local_dc", "dc1")
	})
	t.Run("contact point in another DC", func(t *testing.T) {
		f := twoDCs()
		f.Config.LocalDC, f.Config.DCAwareRouting = "dc1", true
		f.Config.Hosts = []string{"10.0.0.1", "10.0.1.1"}
		f.Hosts = append(f.Hosts, hostOK("10.0.1.1", "dc2"))
		one(t, Analyze(f), Warn, "data_center", "10.0.1.1")
		one(t, Analyze(f), OK, "data_center", "10.0.0.1")
	})
	t.Run("several DCs without local_dc", func(t *testing.T) {
		one(t, Analyze(twoDCs()), Warn, "routing")
	})
}

// twoDCs: 3 nodes in dc1 and 3 in dc2, NetworkTopologyStrategy 3+3,
// EACH_QUORUM events.
func twoDCs() Facts {
	f := healthy()
	f.Nodes = nil
	for i := 1; i <= 3; i++ {
		f.Nodes = append(f.Nodes, node(fmt.Sprintf("10.0.0.%d", i), "dc1"), node(fmt.Sprintf("10.0.1.%d", i), "dc2"))
	}
	f.Config.Hosts = []string{"10.0.0.1", "10.0.0.2"}
	f.Hosts = []diag.HostReport{hostOK("10.0.0.1", "dc1"), hostOK("10.0.0.2", "dc1")}
	f.Config.EventConsistency = "EACH_QUORUM"
	f.Config.ReplicationStrategy = scyllastate.NetworkTopologyStrategy
	f.Config.DCReplication = map[string]int{"dc1": 3, "dc2": 3}
	f.Keyspace.Class = scyllastate.NetworkTopologyStrategy
	f.Keyspace.Options = map[string]string{"dc1": "3", "dc2": "3"}
	return f
}

func TestClusterFindings(t *testing.T) {
	t.Run("schema disagreement", func(t *testing.T) {
		f := healthy()
		n := node("10.0.0.2", "dc1")
		n.SchemaVersion = "s2"
		f.Nodes = append(f.Nodes, n)
		one(t, Analyze(f), Warn, "schema_agreement")
	})
	t.Run("one contact point for several nodes", func(t *testing.T) {
		f := healthy()
		f.Nodes = append(f.Nodes, node("10.0.0.2", "dc1"), node("10.0.0.3", "dc1"))
		one(t, Analyze(f), Warn, "contact_points")
	})
	t.Run("no host answers", func(t *testing.T) {
		f := healthy()
		f.Hosts[0].DialErr = fmt.Errorf("%w: refused", scyllastate.ErrConnect)
		f.Nodes, f.Connected, f.ConnectErr = nil, false, errors.New("no contact point")
		f.Keyspace, f.Tables, f.Schema, f.Reads, f.Writers, f.WritersRead = nil, nil, nil, nil, nil, false
		f.Server, f.Layout, f.LayoutRead = nil, nil, false
		fs := Analyze(f)
		one(t, fs, Skip, "nodes")
		one(t, fs, Skip, "server")
		one(t, fs, Skip, "exists")
		one(t, fs, Skip, "tables")
		one(t, fs, Skip, "latency")
		one(t, fs, Skip, "newest_event")
		if r := NewReport("pins", nil, now, fs); r.Verdict != Fail || r.Failures != 1 {
			t.Errorf("verdict %s with %d failures, want FAIL with 1 (the host)", r.Verdict, r.Failures)
		}
	})
	t.Run("hosts answer but the configured session does not", func(t *testing.T) {
		f := healthy()
		f.Connected, f.ConnectErr = false, errors.New("boom")
		one(t, Analyze(f), Fail, "session")
	})
}

func TestSchemaFindings(t *testing.T) {
	t.Run("missing keyspace", func(t *testing.T) {
		f := healthy()
		f.Keyspace = &diag.KeyspaceInfo{Name: "pins"}
		f.Tables, f.Schema = nil, nil
		fs := Analyze(f)
		got := one(t, fs, Fail, "exists", "pins")
		if !strings.Contains(got.Hint, "first peer to start creates it") {
			t.Errorf("hint %q", got.Hint)
		}
		f.Config.SchemaMode = scyllastate.SchemaModeCheck
		got = one(t, Analyze(f), Fail, "exists", "pins")
		if !strings.Contains(got.Hint, "CREATE KEYSPACE pins") || !strings.Contains(got.Hint, scyllastate.SchemaFile) {
			t.Errorf("hint %q", got.Hint)
		}
		one(t, fs, Skip, "tables")
	})
	t.Run("missing tables", func(t *testing.T) {
		f := healthy()
		delete(f.Tables, scyllastate.EventsTable)
		delete(f.Tables, scyllastate.CheckpointsTable)
		fs := Analyze(f)
		got := one(t, fs, Fail, "tables")
		if !strings.Contains(got.Message, scyllastate.EventsTable) || !strings.Contains(got.Message, scyllastate.CheckpointsTable) {
			t.Errorf("tables message %q", got.Message)
		}
		one(t, fs, Skip, "newest_event")
	})
	t.Run("older version, create", func(t *testing.T) {
		f := healthy()
		f.Schema.Version, f.Schema.MinCompatible = scyllastate.SchemaVersion-1, scyllastate.SchemaVersion-1
		if f.Schema.Version < scyllastate.MinCompatibleSchemaVersion {
			one(t, Analyze(f), Fail, "version")
			return
		}
		one(t, Analyze(f), Warn, "version")
	})
	t.Run("older version, check", func(t *testing.T) {
		f := healthy()
		f.Config.SchemaMode = scyllastate.SchemaModeCheck
		f.Schema.Version = scyllastate.SchemaVersion - 1
		got := one(t, Analyze(f), Fail, "version")
		if !strings.Contains(got.Hint, "versioned/v") {
			t.Errorf("hint %q does not name the update files", got.Hint)
		}
	})
	t.Run("newer compatible version", func(t *testing.T) {
		f := healthy()
		f.Schema.Version, f.Schema.MinCompatible = scyllastate.SchemaVersion+1, scyllastate.SchemaVersion
		one(t, Analyze(f), Warn, "version")
	})
	t.Run("newer incompatible version", func(t *testing.T) {
		f := healthy()
		f.Schema.Version, f.Schema.MinCompatible = scyllastate.SchemaVersion+1, scyllastate.SchemaVersion+1
		got := one(t, Analyze(f), Fail, "version")
		if !strings.Contains(got.Hint, "upgrade ipfs-cluster-service") {
			t.Errorf("hint %q", got.Hint)
		}
	})
	t.Run("no recorded version", func(t *testing.T) {
		f := healthy()
		f.Schema = &diag.SchemaInfo{}
		one(t, Analyze(f), Fail, "version")
	})
	t.Run("retention beyond gc_grace", func(t *testing.T) {
		f := healthy()
		f.Config.EventRetention = 30 * 24 * time.Hour
		got := one(t, Analyze(f), Warn, "gc_grace")
		if !strings.Contains(got.Message, "30d") || !strings.Contains(got.Message, "10d") || !strings.Contains(got.Hint, "gc_grace_seconds = 2592000") {
			t.Errorf("gc_grace finding %+v", got)
		}
	})
	t.Run("durable writes off", func(t *testing.T) {
		f := healthy()
		f.Keyspace.DurableWrites = false
		one(t, Analyze(f), Warn, "durable_writes")
	})
}

func TestReads(t *testing.T) {
	f := healthy()
	f.Reads = []time.Duration{time.Millisecond, 4 * time.Second}
	got := one(t, Analyze(f), Warn, "latency")
	if !strings.Contains(got.Message, "max 4s") {
		t.Errorf("latency message %q", got.Message)
	}
	f.ReadErr = errors.New("Cannot achieve consistency level LOCAL_QUORUM")
	one(t, Analyze(f), Fail, "latency")
}

func TestFeedFindings(t *testing.T) {
	cid, err := api.DecodeCid("bafkqaaa")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("newest event", func(t *testing.T) {
		f := healthy()
		f.Newest = &scyllastate.Event{ID: scyllastate.NewEventID(now.Add(-3 * time.Second)), Cid: cid, Op: scyllastate.OpPin, Writer: "peerA"}
		got := one(t, Analyze(f), OK, "newest_event")
		for _, want := range []string{"3s ago", "pin bafkqaaa", "by peerA"} {
			if !strings.Contains(got.Message, want) {
				t.Errorf("newest_event %q lacks %q", got.Message, want)
			}
		}
	})
	t.Run("event from the future", func(t *testing.T) {
		f := healthy()
		f.Newest = &scyllastate.Event{ID: scyllastate.NewEventID(now.Add(40 * time.Second)), Cid: cid, Op: scyllastate.OpUnpin, Writer: "peerB"}
		got := one(t, Analyze(f), Warn, "newest_event")
		if !strings.Contains(got.Message, "peerB") {
			t.Errorf("newest_event %q does not name the writer", got.Message)
		}
	})
	t.Run("stale writer, a live peer completes it", func(t *testing.T) {
		f := healthy()
		f.Writers = append(f.Writers, scyllastate.WriterInfo{ID: "peerB", Position: now.Add(-10 * time.Minute),
			Heartbeat: now.Add(-5 * time.Minute), SafeBefore: now.Add(-5 * time.Minute)})
		fs := Analyze(f)
		got := one(t, fs, Warn, "stale_writer", "peerB")
		if !strings.Contains(got.Hint, "peerA") {
			t.Errorf("stale writer hint %q does not name the live peer that completes it", got.Hint)
		}
		one(t, fs, Info, "position", "peerB")
	})
	t.Run("stale writer, nobody alive", func(t *testing.T) {
		f := healthy()
		f.Writers = []scyllastate.WriterInfo{{ID: "process/host/42", Heartbeat: now.Add(-5 * time.Minute), SafeBefore: now.Add(-5 * time.Minute)}}
		got := one(t, Analyze(f), Warn, "stale_writer", "process/host/42")
		if !strings.Contains(got.Hint, "start any peer") {
			t.Errorf("hint %q", got.Hint)
		}
	})
	t.Run("completed writer", func(t *testing.T) {
		f := healthy()
		f.Writers = append(f.Writers, scyllastate.WriterInfo{ID: "peerB", Position: now.Add(-10 * time.Minute), Heartbeat: now.Add(-5 * time.Minute), Closed: true})
		fs := Analyze(f)
		if len(find(fs, "stale_writer")) != 0 {
			t.Errorf("a closed writer is reported stale:\n%s", dump(fs))
		}
		if got := one(t, fs, Info, "position", "peerB"); !strings.Contains(got.Message, "stopped cleanly") {
			t.Errorf("position %q", got.Message)
		}
	})
	t.Run("running but behind", func(t *testing.T) {
		f := healthy()
		f.Writers[0].Position = now.Add(-20 * time.Minute)
		got := one(t, Analyze(f), Warn, "position", "peerA")
		if !strings.Contains(got.Message, "20m behind") {
			t.Errorf("position %q", got.Message)
		}
	})
	t.Run("away longer than retention", func(t *testing.T) {
		f := healthy()
		f.Writers = append(f.Writers, scyllastate.WriterInfo{ID: "peerC", Position: now.Add(-9 * 24 * time.Hour), Closed: true})
		got := one(t, Analyze(f), Info, "position", "peerC")
		if !strings.Contains(got.Message, "event_retention") {
			t.Errorf("position %q", got.Message)
		}
	})
	t.Run("this peer has no position", func(t *testing.T) {
		f := healthy()
		f.Writers = nil
		fs := Analyze(f)
		one(t, fs, Info, "position", "peerA")
		one(t, fs, Info, "positions")
	})
	t.Run("feed unreadable", func(t *testing.T) {
		f := healthy()
		f.NewestErr = errors.New("read timeout")
		one(t, Analyze(f), Fail, "newest_event")
	})
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Microsecond:         "0.40ms",
		2500 * time.Microsecond:        "2.5ms",
		250 * time.Millisecond:         "250ms",
		3200 * time.Millisecond:        "3.2s",
		5*time.Minute + 20*time.Second: "5m20s",
		5 * time.Minute:                "5m",
		2*time.Hour + 3*time.Minute:    "2h3m",
		7 * 24 * time.Hour:             "7d",
		7*24*time.Hour + 12*time.Hour:  "7d12h",
		-3 * time.Second:               "-3s", 3100 * time.Millisecond: "3.1s",
		47*time.Hour + 59*time.Minute:                   "47h59m",
		48*time.Hour + 40*time.Minute:                   "2d1h",
		10*24*time.Hour + 23*time.Hour:                  "10d23h",
		10*24*time.Hour + 23*time.Hour + 40*time.Minute: "11d",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
}
