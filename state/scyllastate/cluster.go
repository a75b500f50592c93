package scyllastate

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/gocql/gocql"
)

// clusterConfig translates the configuration into the driver's. It reads
// and checks the TLS files so that a bad path fails here, naming the field.
func (cfg *Config) clusterConfig(m *metrics) (*gocql.ClusterConfig, error) {
	cons, err := parseConsistency("consistency", cfg.Consistency)
	if err != nil {
		return nil, err
	}
	serial, err := parseSerialConsistency("serial_consistency", cfg.SerialConsistency)
	if err != nil {
		return nil, err
	}

	c := gocql.NewCluster(cfg.Hosts...)
	c.Port = cfg.Port
	c.Consistency = cons
	c.SerialConsistency = serial
	c.Timeout = cfg.Timeout
	c.ConnectTimeout = cfg.ConnectTimeout
	c.NumConns = cfg.NumConns
	c.PageSize = cfg.PageSize
	c.MaxPreparedStmts = cfg.PreparedStatementCacheSize
	c.DefaultIdempotence = true // every statement we write is idempotent

	rp := cfg.RetryPolicy
	if rp == nil {
		rp = &RetryPolicyConfig{NumRetries: DefaultNumRetries, MinRetryDelay: DefaultMinRetryDelay, MaxRetryDelay: DefaultMaxRetryDelay}
	}
	c.RetryPolicy = &retryPolicy{
		ExponentialBackoffRetryPolicy: &gocql.ExponentialBackoffRetryPolicy{
			NumRetries: rp.NumRetries,
			Min:        rp.MinRetryDelay,
			Max:        rp.MaxRetryDelay,
		},
		m: m,
	}

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
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, invalid("tls.cert_file", "cannot load the client certificate %q with key %q: %v", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// endpoint describes the contact points for logs and errors (no secrets).
func (cfg *Config) endpoint() string {
	return fmt.Sprintf("%v (port %d, keyspace %s)", cfg.Hosts, cfg.Port, cfg.Keyspace)
}
