package diag

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// Node is one node of the database cluster, as its system.local or
// another node's system.peers describes it.
type Node struct {
	// Address is the node's IP address.
	Address        string
	HostID         string
	DataCenter     string
	Rack           string
	ReleaseVersion string
	// SchemaVersion is the node's version of the whole database schema
	// (a UUID): nodes that disagree have not all applied the last DDL.
	SchemaVersion string
}

// HostReport is what ProbeHost found about one contact point. Each step
// runs only when the one before it succeeded.
type HostReport struct {
	// Host is the entry of scyllastate.hosts; Address the ip:port dialled
	// (empty when the name does not resolve).
	Host    string
	Address string

	// DialErr (wrapping scyllastate.ErrConnect) tells why the name did
	// not resolve or TCP did not connect; DialTime is how long TCP took.
	DialErr  error
	DialTime time.Duration

	// TLS is tls.enabled. TLSErr (wrapping scyllastate.ErrTLS) is the failed
	// handshake; else the version and the server certificate.
	TLS               bool
	TLSErr            error
	TLSVersion        string
	ServerCertSubject string
	ServerCertExpiry  time.Time

	// Login is true when a username is configured; LoginAsked when the
	// server asked for a login (with authentication off, it does not,
	// and the credentials go unused). SessionErr (wrapping scyllastate's
	// ErrAuth, ErrTLS or ErrConnect) is why no CQL session to this host alone
	// could be made (startup, login, client certificate).
	Login      bool
	LoginAsked bool
	SessionErr error

	// QueryErr is why system.local or system.peers could not be read.
	QueryErr error
	// Local is the node itself (system.local); Peers the other nodes it
	// knows (system.peers).
	Local Node
	Peers []Node
	// ClockSkew is the node's clock minus this machine's, measured with
	// a read of its clock that took ClockRTT.
	ClockSkew time.Duration
	ClockRTT  time.Duration
}

// OK tells whether every step succeeded.
func (r HostReport) OK() bool {
	return r.DialErr == nil && r.TLSErr == nil && r.SessionErr == nil && r.QueryErr == nil
}

// ProbeHost checks one contact point with the settings of cfg, each step
// bounded by connect_timeout or timeout: the name resolves and TCP
// connects; the TLS handshake succeeds (when enabled); a CQL session to
// this host alone starts and logs in; the host tells its data center,
// version, clock and the other nodes it knows. It writes nothing.
func ProbeHost(ctx context.Context, cfg *scyllastate.Config, host string) HostReport {
	r := HostReport{Host: host, TLS: cfg.TLS != nil && cfg.TLS.Enabled, Login: cfg.Username != ""}
	one := *cfg
	one.Hosts = []string{host}

	name, port := host, cfg.Port
	if h, p, err := net.SplitHostPort(host); err == nil {
		name = h
		if port, err = strconv.Atoi(p); err != nil {
			r.DialErr = fmt.Errorf("%w: %q: bad port %q", scyllastate.ErrConnect, host, p)
			return r
		}
	}
	ip, err := resolve(ctx, name, cfg.ConnectTimeout)
	if err != nil {
		r.DialErr = fmt.Errorf("%w: cannot resolve %q: %w", scyllastate.ErrConnect, name, err)
		return r
	}
	r.Address = net.JoinHostPort(ip.String(), strconv.Itoa(port))

	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", r.Address)
	r.DialTime = time.Since(start)
	cancel()
	if err != nil {
		r.DialErr = fmt.Errorf("%w: TCP to %s: %w", scyllastate.ErrConnect, r.Address, err)
		return r
	}
	if r.TLS {
		r.handshake(ctx, cfg, conn, ip)
	}
	_ = conn.Close()
	if r.TLSErr != nil {
		return r
	}

	session, err := probeSession(ctx, &one, ip, r.Address, &r.LoginAsked)
	if err != nil {
		r.SessionErr = err
		return r
	}
	defer session.Close()
	r.readNodes(ctx, session, cfg.Timeout, ip)
	return r
}

func resolve(ctx context.Context, name string, timeout time.Duration) (net.IP, error) {
	if ip := net.ParseIP(name); ip != nil {
		return ip, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no address")
	}
	return addrs[0].IP, nil
}

// handshake runs the TLS handshake the driver would run on conn: the
// server certificate is verified against the IP address, as the driver
// does.
func (r *HostReport) handshake(ctx context.Context, cfg *scyllastate.Config, conn net.Conn, ip net.IP) {
	tc, err := cfg.TLS.ClientConfig(ip.String())
	if err != nil {
		r.TLSErr = fmt.Errorf("%w: %w", scyllastate.ErrTLS, err)
		return
	}
	hctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(hctx); err != nil {
		r.TLSErr = fmt.Errorf("%w: handshake with %s: %s: %w", scyllastate.ErrTLS, r.Address, tlsExplanation(err), err)
		return
	}
	st := tconn.ConnectionState()
	r.TLSVersion = tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		r.ServerCertSubject = leaf.Subject.String()
		r.ServerCertExpiry = leaf.NotAfter
	}
}

// tlsExplanation says in words why a handshake failed, naming the setting
// to check.
func tlsExplanation(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &record) || strings.Contains(strings.ToLower(err.Error()), "first record does not look like a tls handshake"):
		return "the server does not speak TLS on this port (check the port, or set tls.enabled to false)"
	case errors.As(err, &unknown):
		return "the server certificate is not signed by an authority of tls.ca_file (or of the system pool when it is empty)"
	case errors.As(err, &hostname):
		return "the server certificate does not name this address (use the address the certificate names in hosts)"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server certificate has expired or is not yet valid (check the server's certificate and this machine's clock)"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within connect_timeout"
	}
	return "see the error (tls.ca_file, tls.cert_file, tls.key_file)"
}

// probeSession starts a CQL session to one address only, without retry.
// asked is set when the server asks for a login.
func probeSession(ctx context.Context, cfg *scyllastate.Config, ip net.IP, addr string, asked *bool) (*gocql.Session, error) {
	c, err := cfg.DriverConfig()
	if err != nil {
		return nil, err
	}
	if c.Authenticator != nil {
		a := &askedAuth{Authenticator: c.Authenticator}
		c.Authenticator = a
		defer func() { *asked = a.asked.Load() }()
	}
	c.Hosts = []string{addr}
	c.DisableInitialHostLookup = true
	c.HostFilter = gocql.HostFilterFunc(func(h *gocql.HostInfo) bool { return h.ConnectAddress().Equal(ip) })
	c.PoolConfig.HostSelectionPolicy = gocql.RoundRobinHostPolicy()
	c.NumConns = 1
	c.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.Timeout)
	defer cancel()
	return scyllastate.StartSession(ctx, cfg, c)
}

// askedAuth records whether the server asked for a login.
type askedAuth struct {
	gocql.Authenticator
	asked atomic.Bool
}

// Challenge answers the server's login request.
func (a *askedAuth) Challenge(req []byte) ([]byte, gocql.Authenticator, error) {
	a.asked.Store(true)
	return a.Authenticator.Challenge(req)
}

// readNodes reads the node itself, its clock and the nodes it knows.
func (r *HostReport) readNodes(ctx context.Context, s *gocql.Session, timeout time.Duration, ip net.IP) {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		hostID, schema gocql.UUID
		serverNow      time.Time
	)
	r.Local.Address = ip.String()
	// The clock is read a few times; the fastest read bounds the error
	// best (half its round trip, plus the millisecond of the server's
	// timestamp).
	for i := range clockSamples {
		start := time.Now()
		err := s.Query("SELECT host_id, data_center, rack, release_version, schema_version, toTimestamp(now()) FROM system.local WHERE key = 'local'").
			WithContext(qctx).Consistency(gocql.One).
			Scan(&hostID, &r.Local.DataCenter, &r.Local.Rack, &r.Local.ReleaseVersion, &schema, &serverNow)
		rtt := time.Since(start)
		if err != nil {
			r.QueryErr = fmt.Errorf("reading system.local of %s: %w", r.Address, err)
			return
		}
		if i == 0 || rtt < r.ClockRTT {
			r.ClockRTT = rtt
			r.ClockSkew = serverNow.Sub(start.Add(rtt / 2))
		}
	}
	r.Local.HostID, r.Local.SchemaVersion = uuidString(hostID), uuidString(schema)

	iter := s.Query("SELECT peer, host_id, data_center, rack, release_version, schema_version FROM system.peers").
		WithContext(qctx).Consistency(gocql.One).Iter()
	var (
		n    Node
		peer string
	)
	for iter.Scan(&peer, &hostID, &n.DataCenter, &n.Rack, &n.ReleaseVersion, &schema) {
		n.Address, n.HostID, n.SchemaVersion = peer, uuidString(hostID), uuidString(schema)
		r.Peers = append(r.Peers, n)
		n = Node{}
	}
	if err := iter.Close(); err != nil {
		r.QueryErr = fmt.Errorf("reading system.peers of %s: %w", r.Address, err)
	}
}

// clockSamples is the number of reads of a node's clock.
const clockSamples = 3

func uuidString(u gocql.UUID) string {
	if u == (gocql.UUID{}) {
		return ""
	}
	return u.String()
}

// ClusterNodes merges what the hosts told about themselves and the nodes
// they know into one list of nodes, by host ID (by address when a node
// has none), ordered by data center and address.
func ClusterNodes(reports []HostReport) []Node {
	byKey := map[string]Node{}
	key := func(n Node) string {
		if n.HostID != "" {
			return n.HostID
		}
		return "addr:" + n.Address
	}
	for _, r := range reports {
		if r.SessionErr != nil || r.DialErr != nil || r.TLSErr != nil || r.Local.DataCenter == "" {
			continue
		}
		byKey[key(r.Local)] = r.Local // a node's own view wins
	}
	for _, r := range reports {
		for _, p := range r.Peers {
			if p.DataCenter == "" {
				continue // a partial row of a removed node
			}
			if _, ok := byKey[key(p)]; !ok {
				byKey[key(p)] = p
			}
		}
	}
	out := make([]Node, 0, len(byKey))
	for _, n := range byKey {
		out = append(out, n)
	}
	sortNodes(out)
	return out
}
