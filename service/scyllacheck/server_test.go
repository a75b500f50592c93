package scyllacheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

const scyllaVersion = "2025.4.2-0.20251219.0e2cd4ea2f39"

// scyllaFacts are healthy facts of a three-node ScyllaDB cluster with the
// shard-aware driver, every shard-aware port reachable and a keyspace with
// tablets.
func scyllaFacts() Facts {
	f := healthy()
	f.Nodes = nil
	f.ShardPorts = nil
	f.Hosts = nil
	f.Config.Hosts = nil
	for i := 1; i <= 3; i++ {
		addr := fmt.Sprintf("10.0.0.%d", i)
		n := node(addr, "datacenter1")
		n.ReleaseVersion = "3.0.8" // what ScyllaDB says in system.local
		f.Nodes = append(f.Nodes, n)
		f.Config.Hosts = append(f.Config.Hosts, addr)
		h := hostOK(addr, "datacenter1")
		h.Local = n
		f.Hosts = append(f.Hosts, h)
		f.ShardPorts = append(f.ShardPorts, PortProbe{Node: addr, Port: 19042, Time: time.Millisecond, RegularPort: 9042})
	}
	f.Server = &scyllastate.ServerInfo{Kind: scyllastate.Scylla, Version: scyllaVersion, DriverShardAware: true, ShardAwarePort: 19042}
	f.Config.ReplicationStrategy = scyllastate.NetworkTopologyStrategy
	f.Config.DCReplication = map[string]int{"datacenter1": 3}
	f.Keyspace.Class = scyllastate.NetworkTopologyStrategy
	f.Keyspace.Options = map[string]string{"datacenter1": "3"}
	tablets := true
	f.Tablets = &tablets
	return f
}

// none fails when fs has a finding of one of the checks.
func none(t *testing.T, fs []Finding, checks ...string) {
	t.Helper()
	for _, c := range checks {
		if got := find(fs, c); len(got) > 0 {
			t.Errorf("unexpected %q findings %+v\nall findings:\n%s", c, got, dump(fs))
		}
	}
}

func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s %q lacks %q", what, s, w)
		}
	}
}

func TestServerCassandra(t *testing.T) {
	fs := Analyze(healthy())
	got := one(t, fs, OK, "server")
	if got.Section != SectionServer || got.Message != "Apache Cassandra 5.0.8" {
		t.Errorf("server finding %+v, want \"Apache Cassandra 5.0.8\" in the server section", got)
	}
	contains(t, "data_center", one(t, fs, OK, "data_center").Message, "release 5.0.8")
	// Nothing of ScyllaDB's on Cassandra.
	none(t, fs, "shard_awareness", "shard_aware_port", "tablets")
}

func TestServerUnidentified(t *testing.T) {
	f := healthy()
	f.Server, f.ServerErr = nil, errors.New("asking the server whether it is ScyllaDB: timeout")
	fs := Analyze(f)
	got := one(t, fs, Warn, "server")
	contains(t, "message", got.Message, "could not be identified", "timeout")
	contains(t, "hint", got.Hint, "does not start")
	none(t, fs, "shard_awareness", "shard_aware_port", "tablets")
	if r := NewReport("pins", nil, now, fs); r.Verdict != Warn || r.Warnings != 1 {
		t.Errorf("verdict %s with %d warnings, want WARN with 1:\n%s", r.Verdict, r.Warnings, dump(fs))
	}
}

func TestServerScylla(t *testing.T) {
	t.Run("healthy, tablets", func(t *testing.T) {
		fs := Analyze(scyllaFacts())
		if r := NewReport("pins", nil, now, fs); r.Verdict != OK {
			t.Fatalf("verdict %s, want OK:\n%s", r.Verdict, dump(fs))
		}
		if got := one(t, fs, OK, "server"); got.Message != "ScyllaDB "+scyllaVersion {
			t.Errorf("server %q", got.Message)
		}
		contains(t, "shard_awareness", one(t, fs, OK, "shard_awareness").Message, "one connection per shard", "19042")
		for i := 1; i <= 3; i++ {
			contains(t, "shard_aware_port", one(t, fs, OK, "shard_aware_port", fmt.Sprintf("10.0.0.%d", i)).Message, "port 19042 reachable")
		}
		// ScyllaDB's release_version (3.0.8) says nothing: not shown.
		if got := one(t, fs, OK, "data_center", "10.0.0.1"); got.Message != "data center datacenter1, rack r1" {
			t.Errorf("data_center %q", got.Message)
		}
		got := one(t, fs, OK, "tablets", "pins")
		if got.Section != SectionKeyspace {
			t.Errorf("tablets in section %s", got.Section)
		}
		contains(t, "tablets", got.Message, "uses tablets", "no lightweight transaction, counter", "event_partitions", "cannot be switched off")
	})
	t.Run("vnodes", func(t *testing.T) {
		f := scyllaFacts()
		vnodes := false
		f.Tablets = &vnodes
		contains(t, "tablets", one(t, Analyze(f), OK, "tablets", "pins").Message, "uses vnodes", "cannot be switched on")
	})
	t.Run("tablets unreadable", func(t *testing.T) {
		f := scyllaFacts()
		f.Tablets, f.TabletsErr = nil, errors.New(`reading whether keyspace "pins" uses tablets: unauthorized`)
		contains(t, "tablets", one(t, Analyze(f), Warn, "tablets", "pins").Message, "unauthorized")
	})
	t.Run("driver not shard-aware", func(t *testing.T) {
		f := scyllaFacts()
		f.Server.DriverShardAware, f.Server.ShardAwarePort, f.ShardPorts = false, 0, nil
		fs := Analyze(f)
		got := one(t, fs, Fail, "shard_awareness")
		contains(t, "hint", got.Hint, "replace github.com/gocql/gocql => github.com/scylladb/gocql v1.17.0")
		none(t, fs, "shard_aware_port")
	})
	t.Run("no shard-aware port advertised", func(t *testing.T) {
		f := scyllaFacts()
		f.Server.ShardAwarePort, f.ShardPorts = 0, nil
		got := one(t, Analyze(f), Warn, "shard_awareness")
		contains(t, "message", got.Message, "no node advertises", "port 9042")
		contains(t, "hint", got.Hint, "native_shard_aware_transport_port: 19042")
	})
	t.Run("no shard-aware port advertised, TLS", func(t *testing.T) {
		f := scyllaFacts()
		f.Config.TLS = &scyllastate.TLSConfig{Enabled: true}
		f.Server.ShardAwarePort, f.ShardPorts = 0, nil
		contains(t, "hint", one(t, Analyze(f), Warn, "shard_awareness").Hint, "native_shard_aware_transport_port_ssl: 19142")
	})
	t.Run("shard-aware port unreachable", func(t *testing.T) {
		f := scyllaFacts()
		f.ShardPorts[1].Err = errors.New("TCP to 10.0.0.2:19042: i/o timeout")
		fs := Analyze(f)
		got := one(t, fs, Warn, "shard_aware_port", "10.0.0.2")
		contains(t, "message", got.Message, "unreachable", "i/o timeout", "falls back to port 9042", "one connection per shard is still opened but through the regular port")
		contains(t, "hint", got.Hint, "open port 19042", "19142 with TLS", "native_shard_aware_transport_port")
		one(t, fs, OK, "shard_aware_port", "10.0.0.1")
		if r := NewReport("pins", nil, now, fs); r.Verdict != Warn || r.Warnings != 1 {
			t.Errorf("verdict %s with %d warnings, want WARN with 1:\n%s", r.Verdict, r.Warnings, dump(fs))
		}
	})
	t.Run("node unreachable at both ports", func(t *testing.T) {
		f := scyllaFacts()
		f.ShardPorts[2].Err = errors.New("TCP to 10.0.0.3:19042: no route to host")
		f.ShardPorts[2].RegularErr = errors.New("TCP to 10.0.0.3:9042: no route to host")
		contains(t, "message", one(t, Analyze(f), Warn, "shard_aware_port", "10.0.0.3").Message, "neither port 19042 nor port 9042")
	})
	t.Run("node down", func(t *testing.T) {
		f := scyllaFacts()
		f.Hosts[2].DialErr = fmt.Errorf("%w: refused", scyllastate.ErrConnect)
		f.ShardPorts[2].Err = errors.New("TCP to 10.0.0.3:19042: connection refused")
		f.ShardPorts[2].RegularErr = errors.New("TCP to 10.0.0.3:9042: connection refused")
		fs := Analyze(f)
		one(t, fs, Skip, "shard_aware_port", "10.0.0.3")
		one(t, fs, Fail, "reach", "10.0.0.3") // reported once, in the hosts section
	})
}

func TestLayout(t *testing.T) {
	minute := func(m int) time.Time { return now.Truncate(time.Minute).Add(time.Duration(m) * time.Minute) }
	t.Run("as configured", func(t *testing.T) {
		fs := Analyze(healthy())
		if got := one(t, fs, OK, "layout"); got.Message != "32 partitions per minute" || got.Section != SectionFeed {
			t.Errorf("layout %+v", got)
		}
		none(t, fs, "event_partitions")
	})
	t.Run("setting differs", func(t *testing.T) {
		f := healthy()
		f.Config.EventPartitions = 64
		got := one(t, Analyze(f), Warn, "event_partitions")
		contains(t, "message", got.Message, "event_partitions is 64", "records 32 partitions per minute", "peers use the keyspace's layout")
		contains(t, "hint", got.Hint, "scylla event-partitions 64", "set event_partitions to 32")
	})
	t.Run("a change scheduled", func(t *testing.T) {
		f := healthy()
		f.Layout = append(f.Layout, scyllastate.LayoutEntry{From: minute(11), Partitions: 64})
		fs := Analyze(f)
		got := one(t, fs, OK, "layout")
		contains(t, "layout", got.Message, "32 partitions per minute; scheduled: 64 from "+minute(11).Format(time.RFC3339)+" (in 11m)")
		// The peers compare the setting with the newest entry.
		contains(t, "event_partitions", one(t, fs, Warn, "event_partitions").Message, "records 64 partitions per minute from "+minute(11).Format(time.RFC3339))
		f.Config.EventPartitions = 64
		none(t, Analyze(f), "event_partitions")
	})
	t.Run("a change applied", func(t *testing.T) {
		f := healthy()
		f.Layout = append(f.Layout, scyllastate.LayoutEntry{From: minute(-30), Partitions: 8})
		f.Config.EventPartitions = 8
		fs := Analyze(f)
		if got := one(t, fs, OK, "layout"); got.Message != "8 partitions per minute" {
			t.Errorf("layout %q", got.Message)
		}
		none(t, fs, "event_partitions")
	})
	t.Run("no layout recorded", func(t *testing.T) {
		f := healthy()
		f.Layout = nil
		fs := Analyze(f)
		contains(t, "layout", one(t, fs, OK, "layout").Message, "4 partitions per minute (no layout recorded")
		one(t, fs, Warn, "event_partitions")
	})
	t.Run("unreadable", func(t *testing.T) {
		f := healthy()
		f.Layout, f.LayoutRead, f.LayoutErr = nil, false, fmt.Errorf("%w: read timeout", scyllastate.ErrLayout)
		fs := Analyze(f)
		contains(t, "hint", one(t, fs, Fail, "layout").Hint, "cannot write or read the change feed")
		none(t, fs, "event_partitions")
	})
	t.Run("no layout table", func(t *testing.T) {
		f := healthy()
		delete(f.Tables, layoutTable)
		f.Layout, f.LayoutRead = nil, false
		fs := Analyze(f)
		one(t, fs, Skip, "layout")
		one(t, fs, Fail, "tables")
	})
}

func TestLayoutTableIsRequired(t *testing.T) {
	if !slices.Contains(scyllastate.RequiredTables(), layoutTable) {
		t.Errorf("%s is not among scyllastate's tables %v: the check no longer reads the layout", layoutTable, scyllastate.RequiredTables())
	}
}

// serial_consistency is accepted for old configurations but unused: the
// check neither judges it nor speaks of serial reads.
func TestSerialConsistencyIsNotJudged(t *testing.T) {
	f := healthy()
	f.Config.SerialConsistency = "SERIAL"
	f.SchemaErr, f.Schema = errors.New("reading schema version: timeout"), nil
	fs := Analyze(f)
	none(t, fs, "serial_consistency")
	if strings.Contains(strings.ToLower(dump(fs)), "serial") {
		t.Errorf("a finding speaks of serial reads:\n%s", dump(fs))
	}
	contains(t, "version hint", one(t, fs, Fail, "version").Hint, "at LOCAL_QUORUM")
	contains(t, "consistency", one(t, fs, OK, "consistency", "LOCAL_QUORUM").Message, "schema version")
}

func TestScyllaJSON(t *testing.T) {
	f := scyllaFacts()
	f.ShardPorts[1].Err = errors.New("TCP to 10.0.0.2:19042: i/o timeout")
	r := NewReport("pins", f.Config.Hosts, f.Time, Analyze(f))
	r.Facts = f.JSON()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Facts struct {
			Server   map[string]any `json:"server"`
			Keyspace map[string]any `json:"keyspace"`
			Feed     map[string]any `json:"feed"`
		} `json:"facts"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	srv := doc.Facts.Server
	if srv["kind"] != "scylla" || srv["version"] != scyllaVersion || srv["driver_shard_aware"] != true || srv["shard_aware_port"] != 19042.0 {
		t.Errorf("server %v", srv)
	}
	ports, _ := srv["shard_aware_ports"].([]any)
	if len(ports) != 3 {
		t.Fatalf("shard_aware_ports %v", srv["shard_aware_ports"])
	}
	bad := ports[1].(map[string]any)
	if bad["address"] != "10.0.0.2:19042" || bad["reachable"] != false || !strings.Contains(fmt.Sprint(bad["error"]), "i/o timeout") {
		t.Errorf("unreachable port %v", bad)
	}
	if doc.Facts.Keyspace["tablets"] != true {
		t.Errorf("keyspace %v", doc.Facts.Keyspace)
	}
	if doc.Facts.Feed["partitions_per_minute"] != 32.0 {
		t.Errorf("feed %v", doc.Facts.Feed)
	}

	// Cassandra: no tablets; a server that could not be identified: only
	// the error.
	c := healthy()
	if js := c.JSON(); js.Keyspace.Tablets != nil || js.Server.Kind != "cassandra" || js.Server.ShardAwarePorts != nil {
		t.Errorf("cassandra facts: keyspace %+v server %+v", js.Keyspace, js.Server)
	}
	c.Server, c.ServerErr = nil, errors.New("boom")
	if js := c.JSON(); js.Server == nil || js.Server.Error != "boom" || js.Server.Kind != "" {
		t.Errorf("unidentified server: %+v", js.Server)
	}
	c.ServerErr, c.Connected = nil, false
	if js := c.JSON(); js.Server != nil {
		t.Errorf("no connection, yet server facts %+v", js.Server)
	}
}

// listen accepts TCP connections on addr until the test ends, and
// returns its port.
func listen(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// The shard-aware port is dialled on every node; where it does not
// answer, the regular port tells a closed port from a node cut off.
func TestProbeShardPorts(t *testing.T) {
	// Three loopback addresses: the first serves the shard-aware port,
	// the second only the regular port, the third nothing.
	shard := listen(t, "127.0.0.1:0")
	regular := listen(t, "127.0.0.53:0")
	f := healthy()
	f.Config.Port = 1 // nodes that are not contact points: nothing listens there
	f.Config.ConnectTimeout = 2 * time.Second
	f.Hosts = []diag.HostReport{{Host: "127.0.0.53", Address: net.JoinHostPort("127.0.0.53", strconv.Itoa(regular))}}
	f.Nodes = []diag.Node{node("127.0.0.1", "dc1"), node("127.0.0.53", "dc1"), node("127.0.0.54", "dc1")}

	got := f.probeShardPorts(context.Background(), uint16(shard))
	if len(got) != 3 {
		t.Fatalf("%d probes, want 3", len(got))
	}
	if p := got[0]; p.Err != nil || p.RegularErr != nil || p.Node != "127.0.0.1" || int(p.Port) != shard {
		t.Errorf("reachable node: %+v", p)
	}
	if p := got[1]; p.Err == nil || p.RegularErr != nil || p.RegularPort != regular {
		t.Errorf("node without the shard-aware port: %+v", p)
	} else if !strings.Contains(p.Err.Error(), p.Address()) {
		t.Errorf("the error %q does not name %s", p.Err, p.Address())
	}
	if p := got[2]; p.Err == nil || p.RegularErr == nil || p.RegularPort != 1 {
		t.Errorf("node cut off: %+v", p)
	}
	f.ShardPorts = got
	f.Server = &scyllastate.ServerInfo{Kind: scyllastate.Scylla, Version: scyllaVersion, DriverShardAware: true, ShardAwarePort: uint16(shard)}
	fs := Analyze(f)
	one(t, fs, OK, "shard_aware_port", "127.0.0.1")
	contains(t, "message", one(t, fs, Warn, "shard_aware_port", "127.0.0.53").Message, fmt.Sprintf("falls back to port %d", regular))
	contains(t, "message", one(t, fs, Warn, "shard_aware_port", "127.0.0.54").Message, "neither")
}
