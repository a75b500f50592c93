package scyllastate

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gocql/gocql"
)

// clusterConfig translates the configuration into the driver's: hosts,
// consistency, timeouts, pools, routing, authentication, TLS and the retry
// policy. It reads and checks the TLS files so that a bad path fails here,
// naming the field.
func (cfg *Config) clusterConfig(m *metrics) (*gocql.ClusterConfig, error) {
	cons, err := levelOf("consistency", cfg.Consistency, false)
	if err != nil {
		return nil, err
	}
	serial, err := levelOf("serial_consistency", cfg.SerialConsistency, true)
	if err != nil {
		return nil, err
	}

	c := gocql.NewCluster(cfg.Hosts...)
	c.Port = cfg.Port
	c.Consistency = cons.driver()
	c.SerialConsistency = serial.driver()
	c.Timeout = cfg.Timeout
	c.ConnectTimeout = cfg.ConnectTimeout
	c.NumConns = cfg.NumConns
	c.PageSize = cfg.PageSize
	c.MaxPreparedStmts = cfg.PreparedStatementCacheSize
	c.DefaultIdempotence = true // every statement we write is idempotent
	c.RetryPolicy = cfg.retryPolicy(m)

	var policy gocql.HostSelectionPolicy
	if cfg.DCAwareRouting {
		policy = gocql.DCAwareRoundRobinPolicy(cfg.LocalDC)
	} else {
		policy = gocql.RoundRobinHostPolicy()
	}
	if cfg.TokenAwareRouting {
		policy = gocql.TokenAwareHostPolicy(policy)
	}
	c.PoolConfig.HostSelectionPolicy = policy

	if cfg.Username != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}

	if cfg.TLS != nil && cfg.TLS.Enabled {
		tc, err := cfg.TLS.tlsConfig()
		if err != nil {
			return nil, err
		}
		c.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: !cfg.TLS.InsecureSkipVerify}
	}
	return c, nil
}

// ClientConfig returns the TLS configuration the driver uses, verifying
// the server certificate against serverName (an IP address for the
// driver) unless InsecureSkipVerify; serverName may be empty. Errors name
// the config field to fix.
func (t *TLSConfig) ClientConfig(serverName string) (*tls.Config, error) {
	tc, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	if !tc.InsecureSkipVerify {
		tc.ServerName = serverName
	}
	return tc, nil
}

func (t *TLSConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, invalid("tls.ca_file", "cannot read %q: %v", t.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, invalid("tls.ca_file", "%q holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if _, err := os.Stat(t.KeyFile); err != nil {
			return nil, invalid("tls.key_file", "cannot read %q: %v", t.KeyFile, err)
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, invalid("tls.cert_file", "cannot load the client certificate %q with key %q: %v", t.CertFile, t.KeyFile, err)
		}
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && time.Now().After(leaf.NotAfter) {
			return nil, invalid("tls.cert_file", "the client certificate %q expired on %s: renew it", t.CertFile, leaf.NotAfter.Format(time.RFC3339))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// endpoint describes the contact points for logs and errors (no secrets).
func (cfg *Config) endpoint() string {
	all, some := true, false // every host / some host has its own port
	for _, h := range cfg.Hosts {
		_, _, err := net.SplitHostPort(h)
		all, some = all && err == nil, some || err == nil
	}
	switch {
	case all:
		return fmt.Sprintf("%v (keyspace %s)", cfg.Hosts, cfg.Keyspace)
	case some:
		return fmt.Sprintf("%v (port %d for the hosts without one, keyspace %s)", cfg.Hosts, cfg.Port, cfg.Keyspace)
	}
	return fmt.Sprintf("%v (port %d, keyspace %s)", cfg.Hosts, cfg.Port, cfg.Keyspace)
}

// retryPolicy builds the driver's retry policy from retry_policy.
func (cfg *Config) retryPolicy(m *metrics) *retryPolicy {
	rp := cfg.RetryPolicy
	if rp == nil {
		rp = &RetryPolicyConfig{NumRetries: DefaultNumRetries, MinRetryDelay: DefaultMinRetryDelay, MaxRetryDelay: DefaultMaxRetryDelay}
	}
	return &retryPolicy{
		ExponentialBackoffRetryPolicy: &gocql.ExponentialBackoffRetryPolicy{
			NumRetries: rp.NumRetries,
			Min:        rp.MinRetryDelay,
			Max:        rp.MaxRetryDelay,
		},
		m: m,
	}
}

// writeDeadline is the longest time one statement can take, retries and
// backoff included: a write that is acknowledged has landed within it.
func (cfg *Config) writeDeadline() time.Duration {
	rp := cfg.RetryPolicy
	if rp == nil {
		rp = &RetryPolicyConfig{NumRetries: DefaultNumRetries, MinRetryDelay: DefaultMinRetryDelay, MaxRetryDelay: DefaultMaxRetryDelay}
	}
	d := cfg.Timeout * time.Duration(rp.NumRetries+1)
	delay := rp.MinRetryDelay
	for i := 0; i < rp.NumRetries; i++ {
		d += delay
		delay = min(2*delay, rp.MaxRetryDelay)
	}
	return d
}

// WriteDeadline is the longest time a write of this store can take, its
// retries included. Readers of the change feed must re-read at least
// that much of it (consensus.scylla.feed_overlap).
func (cfg *Config) WriteDeadline() time.Duration { return cfg.writeDeadline() }

// retryPolicy is the driver's exponential backoff with two changes: it
// counts the retries it grants, and it retries replica-level failures
// (unavailable, read or write timeout) on the same coordinator, since any
// other coordinator would ask the same replicas; other failures (a
// coordinator that went away) move to the next host. So num_retries holds
// on a one-node cluster too.
type retryPolicy struct {
	*gocql.ExponentialBackoffRetryPolicy
	m *metrics
}

// Attempt decides whether to retry and counts the retry.
func (p *retryPolicy) Attempt(q gocql.RetryableQuery) bool {
	ok := p.ExponentialBackoffRetryPolicy.Attempt(q)
	if ok && p.m != nil {
		p.m.retries.Inc()
	}
	return ok
}

// AttemptLWT is Attempt for lightweight transactions.
func (p *retryPolicy) AttemptLWT(q gocql.RetryableQuery) bool {
	return p.Attempt(q)
}

// GetRetryType chooses where to retry.
func (p *retryPolicy) GetRetryType(err error) gocql.RetryType {
	rt := p.ExponentialBackoffRetryPolicy.GetRetryType(err)
	if rt != gocql.RetryNextHost {
		return rt
	}
	var (
		unavailable  *gocql.RequestErrUnavailable
		readTimeout  *gocql.RequestErrReadTimeout
		writeTimeout *gocql.RequestErrWriteTimeout
	)
	if errors.As(err, &unavailable) || errors.As(err, &readTimeout) || errors.As(err, &writeTimeout) {
		return gocql.Retry
	}
	return rt
}

// GetRetryTypeLWT is GetRetryType for lightweight transactions.
func (p *retryPolicy) GetRetryTypeLWT(err error) gocql.RetryType {
	return p.GetRetryType(err)
}

// ConsistencyLevel is the consistency setting as a level; zero when it is
// not valid (Validate reports it).
func (cfg *Config) ConsistencyLevel() Consistency {
	c, _ := levelOf("consistency", cfg.Consistency, false)
	return c
}

// EventConsistencyLevel is the level change-feed events are written at:
// event_consistency, or consistency when that is empty; zero when it is
// not valid (Validate reports it).
func (cfg *Config) EventConsistencyLevel() Consistency {
	if cfg.EventConsistency == "" {
		return cfg.ConsistencyLevel()
	}
	c, _ := levelOf("event_consistency", cfg.EventConsistency, false)
	return c
}
