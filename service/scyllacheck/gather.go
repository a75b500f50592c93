package scyllacheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// Options say what to check and how.
type Options struct {
	// State is the scyllastate section to check. It is not modified.
	State *scyllastate.Config
	// Feed is the consensus.scylla section (feed_overlap and
	// checkpoint_interval tell how far behind a live peer may be). Nil
	// means its defaults.
	Feed *scyllacons.Config
	// Self is this peer's ID, marked in the list of feed positions.
	Self string
	// Reads is the number of reads of the latency probe (at least 1).
	Reads int
	// FeedWindow is how far back the newest event of the change feed is
	// looked for (at least one minute).
	FeedWindow time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Facts is what Gather found, and what Analyze judges.
type Facts struct {
	// Time is when the check started.
	Time time.Time
	// Config is the checked section; Self this peer's ID.
	Config *scyllastate.Config
	Self   string
	// AliveWithin: a peer whose feed position is more recent is taken
	// for alive (scylla.AliveWithin).
	AliveWithin time.Duration

	// Hosts are the probes of the contact points; Nodes the nodes of
	// the cluster they told about. When the TLS handshake with a host
	// succeeded but the server refused the connection afterwards (a
	// client certificate it requires, with TLS 1.3), the host's
	// SessionErr wraps scyllastate.ErrTLS and says so (confirmTLS).
	Hosts []diag.HostReport
	Nodes []diag.Node

	// Connected is true once a session with the configured settings
	// (every host, the configured routing) started; ConnectErr is why
	// not. The facts below are read through that session.
	Connected  bool
	ConnectErr error
	// PlainRouting: the configured session failed (ConnectErr) and the
	// facts below were read with plain round-robin routing instead of
	// dc_aware_routing.
	PlainRouting bool

	// Server is what the database is (ScyllaDB or Cassandra, its
	// version, whether the driver is shard-aware and the shard-aware
	// port the nodes advertise); ServerErr is why that could not be
	// told (Server is then nil).
	Server    *scyllastate.ServerInfo
	ServerErr error
	// ShardPorts are the TCP probes of every node's shard-aware port, on
	// ScyllaDB with the shard-aware driver and a port advertised.
	ShardPorts []PortProbe

	Keyspace    *diag.KeyspaceInfo
	KeyspaceErr error
	// Tablets tells, on ScyllaDB, whether the keyspace uses tablets
	// (else vnodes); nil on Cassandra or when TabletsErr says why it
	// could not be read.
	Tablets    *bool
	TabletsErr error

	Tables    map[string]diag.TableInfo
	TablesErr error
	Schema    *diag.SchemaInfo
	SchemaErr error

	// Reads are the durations of the latency probe; ReadErr the first
	// failed read.
	Reads   []time.Duration
	ReadErr error

	// Layout is the change feed's layout, oldest entry first (empty: 4
	// partitions per minute, the layout of schema versions 1 to 3);
	// LayoutRead tells whether it could be read, LayoutErr why not.
	Layout     []scyllastate.LayoutEntry
	LayoutRead bool
	LayoutErr  error

	// FeedWindow is how far back Newest was looked for. Newest is nil
	// when no event is that recent.
	FeedWindow time.Duration
	Newest     *scyllastate.Event
	NewestErr  error
	// Writers are the feed positions and heartbeats; WritersRead tells
	// whether they could be read.
	Writers     []scyllastate.WriterInfo
	WritersRead bool
	WritersErr  error
}

// Gather runs every probe. It never writes to the database. Each network
// call is bounded by the section's connect_timeout or timeout; ctx bounds
// the whole.
func Gather(ctx context.Context, o Options) Facts {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	feedCfg := o.Feed
	if feedCfg == nil {
		feedCfg = &scyllacons.Config{}
		_ = feedCfg.Default()
	}
	f := Facts{
		Time:        now(),
		Config:      o.State,
		Self:        o.Self,
		AliveWithin: scyllacons.AliveWithin(feedCfg),
		FeedWindow:  o.FeedWindow,
	}
	f.FeedWindow = max(f.FeedWindow, scyllastate.BucketWidth)
	reads := max(o.Reads, 1)
	cfg := o.State

	f.Hosts = make([]diag.HostReport, len(cfg.Hosts))
	var wg sync.WaitGroup
	for i, h := range cfg.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Hosts[i] = diag.ProbeHost(ctx, cfg, h)
			confirmTLS(ctx, cfg, &f.Hosts[i])
		}()
	}
	wg.Wait()
	f.Nodes = diag.ClusterNodes(f.Hosts)

	reachable := false
	for _, h := range f.Hosts {
		reachable = reachable || h.OK()
	}
	if !reachable {
		f.ConnectErr = errors.New("no contact point accepted a CQL session (see the hosts section)")
		return f
	}
	in, err := diag.Inspect(ctx, cfg)
	if err != nil && cfg.DCAwareRouting {
		// The hosts answer one by one but the configured routing does
		// not (a local_dc the driver cannot find): the rest is read
		// with plain round-robin routing.
		f.ConnectErr = err
		plain := *cfg
		plain.DCAwareRouting, plain.LocalDC = false, ""
		in, err = diag.Inspect(ctx, &plain)
		f.PlainRouting = err == nil
	}
	if err != nil {
		f.ConnectErr = err
		return f
	}
	defer in.Close()
	f.Connected = true
	f.inspectServer(ctx, in)
	f.inspect(ctx, in, reads)
	return f
}

// PortProbe is a TCP connection attempt to one node's shard-aware port.
type PortProbe struct {
	// Node is the node's IP address; Port the shard-aware port dialled.
	Node string
	Port uint16
	// Err is why TCP did not connect within connect_timeout; Time how
	// long it took.
	Err  error
	Time time.Duration
	// RegularPort is the node's regular CQL port. When Err is set it is
	// dialled too: RegularErr tells a closed shard-aware port from a
	// node this machine cannot reach at all.
	RegularPort int
	RegularErr  error
}

// Address is the ip:port dialled.
func (p PortProbe) Address() string {
	return net.JoinHostPort(p.Node, strconv.Itoa(int(p.Port)))
}

// inspectServer reads what the server is and, on ScyllaDB with the
// shard-aware driver and a shard-aware port advertised, dials that port
// on every node: the driver opens its connections there.
func (f *Facts) inspectServer(ctx context.Context, in *diag.Inspector) {
	info, err := in.Server()
	if err != nil {
		f.ServerErr = err
		return
	}
	f.Server = &info
	if info.Kind != scyllastate.Scylla || !info.DriverShardAware || info.ShardAwarePort == 0 {
		return
	}
	f.ShardPorts = f.probeShardPorts(ctx, info.ShardAwarePort)
}

// probeShardPorts dials port on every node, in parallel, each attempt
// bounded by connect_timeout; where it fails, the node's regular port
// too.
func (f *Facts) probeShardPorts(ctx context.Context, port uint16) []PortProbe {
	out := make([]PortProbe, len(f.Nodes))
	var wg sync.WaitGroup
	for i, n := range f.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := PortProbe{Node: n.Address, Port: port, RegularPort: f.regularPort(n.Address)}
			p.Time, p.Err = dialTCP(ctx, p.Address(), f.Config.ConnectTimeout)
			if p.Err != nil {
				_, p.RegularErr = dialTCP(ctx, net.JoinHostPort(p.Node, strconv.Itoa(p.RegularPort)), f.Config.ConnectTimeout)
			}
			out[i] = p
		}()
	}
	wg.Wait()
	return out
}

// regularPort is the CQL port the driver uses for a node: the port of a
// contact point at that address, else the configured port.
func (f *Facts) regularPort(ip string) int {
	for _, h := range f.Hosts {
		if host, port, err := net.SplitHostPort(h.Address); err == nil && host == ip {
			if n, err := strconv.Atoi(port); err == nil {
				return n
			}
		}
	}
	return f.Config.Port
}

// dialTCP connects to addr and closes the connection at once.
func dialTCP(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("TCP to %s: %w", addr, err)
	}
	_ = conn.Close()
	return took, nil
}

// layoutTable is the table of the change feed's layout.
const layoutTable = scyllastate.LayoutTable

// inspect reads the keyspace, schema, latency and feed facts.
func (f *Facts) inspect(ctx context.Context, in *diag.Inspector, reads int) {
	cfg := f.Config
	// One statement with its retries takes at most this long.
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, cfg.WriteDeadline())
	}

	qctx, cancel := call()
	ks, err := in.Keyspace(qctx)
	cancel()
	if err != nil {
		f.KeyspaceErr = err
		return
	}
	f.Keyspace = &ks
	if !ks.Exists {
		return
	}
	if f.Server != nil && f.Server.Kind == scyllastate.Scylla {
		qctx, cancel = call()
		tablets, err := in.KeyspaceTablets(qctx)
		cancel()
		if err != nil {
			f.TabletsErr = err
		} else {
			f.Tablets = &tablets
		}
	}
	qctx, cancel = call()
	f.Tables, f.TablesErr = in.Tables(qctx)
	cancel()
	if f.TablesErr != nil {
		return
	}
	if _, ok := f.Tables[scyllastate.SchemaVersionTable]; ok {
		qctx, cancel = call()
		v, err := in.SchemaVersion(qctx)
		cancel()
		if err != nil {
			f.SchemaErr = err
		} else {
			f.Schema = &v
		}
	}
	if _, ok := f.Tables[scyllastate.PinsTable]; ok {
		// A first read, not measured, prepares the statement.
		qctx, cancel = call()
		_, f.ReadErr = in.ProbeRead(qctx)
		cancel()
		for i := 0; i < reads && f.ReadErr == nil; i++ {
			qctx, cancel = call()
			d, err := in.ProbeRead(qctx)
			cancel()
			if err != nil {
				f.ReadErr = err
				break
			}
			f.Reads = append(f.Reads, d)
		}
	}
	if _, ok := f.Tables[layoutTable]; ok {
		qctx, cancel = call()
		f.Layout, f.LayoutErr = in.Layout(qctx)
		cancel()
		f.LayoutRead = f.LayoutErr == nil
	}
	if _, ok := f.Tables[scyllastate.EventsTable]; ok {
		// The partitions of a few buckets at a time, in parallel.
		budget := time.Duration(f.FeedWindow/scyllastate.BucketWidth+2) * cfg.WriteDeadline()
		qctx, cancel := context.WithTimeout(ctx, budget)
		e, found, err := in.NewestEvent(qctx, f.Time, f.FeedWindow)
		cancel()
		switch {
		case err != nil:
			f.NewestErr = err
		case found:
			f.Newest = &e
		}
	}
	if _, ok := f.Tables[scyllastate.CheckpointsTable]; ok {
		qctx, cancel = call()
		f.Writers, f.WritersErr = in.Writers(qctx)
		cancel()
		f.WritersRead = f.WritersErr == nil
	}
}

// errorText is err's message, or "".
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ms renders a duration in milliseconds for JSON.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
