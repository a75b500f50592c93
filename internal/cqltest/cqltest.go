// Package cqltest gives integration tests a real CQL database: the one
// that scripts/cassandra.sh starts (see its "env" command). A missing
// database fails the test with instructions; it is never skipped.
package cqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// Env variable names read by Config, with the prefix given.
const (
	DefaultPrefix = "SCYLLASTATE_TEST"
	SecurePrefix  = "SCYLLASTATE_TEST_SECURE"
)

func env(prefix, name, def string) string {
	if v := os.Getenv(prefix + "_" + name); v != "" {
		return v
	}
	return def
}

// Config returns a scyllastate configuration for the database named by the
// environment variables PREFIX_HOSTS (default 127.0.0.1), PREFIX_PORT
// (9042), PREFIX_USERNAME, PREFIX_PASSWORD and PREFIX_TLS_CA/_CERT/_KEY,
// with a fresh keyspace that is dropped when the test ends.
func Config(t testing.TB, prefix string) *scyllastate.Config {
	t.Helper()
	hosts := env(prefix, "HOSTS", "")
	if hosts == "" {
		if prefix != DefaultPrefix {
			t.Fatalf("%s_HOSTS is not set: start the database with scripts/cassandra.sh (see docs/testing.md) and export its env", prefix)
		}
		hosts = "127.0.0.1"
	}
	port, err := strconv.Atoi(env(prefix, "PORT", "9042"))
	if err != nil {
		t.Fatalf("%s_PORT: %v", prefix, err)
	}
	cfg := &scyllastate.Config{
		Hosts:    strings.Split(hosts, ","),
		Port:     port,
		Keyspace: Keyspace(t),
		Username: env(prefix, "USERNAME", ""),
		Password: env(prefix, "PASSWORD", ""),
		RetryPolicy: &scyllastate.RetryPolicyConfig{
			NumRetries: 2, MinRetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second,
		},
	}
	if ca := env(prefix, "TLS_CA", ""); ca != "" {
		cfg.TLS = &scyllastate.TLSConfig{
			Enabled:  true,
			CAFile:   ca,
			CertFile: env(prefix, "TLS_CERT", ""),
			KeyFile:  env(prefix, "TLS_KEY", ""),
		}
	}
	_ = cfg.Default()
	t.Cleanup(func() { DropKeyspace(t, cfg) })
	return cfg
}

// SecureConfig is Config for the secure instance (scripts/cassandra.sh
// with CASSANDRA_AUTH=1 CASSANDRA_TLS=1, its env exported with
// CASSANDRA_ENV_PREFIX=SCYLLASTATE_TEST_SECURE): password authentication
// and mutual TLS. A missing setting fails t.
func SecureConfig(t testing.TB) *scyllastate.Config {
	t.Helper()
	cfg := Config(t, SecurePrefix)
	if cfg.Username == "" || cfg.TLS == nil || !cfg.TLS.Enabled || cfg.TLS.CertFile == "" {
		t.Fatalf("%s_USERNAME/_PASSWORD and _TLS_CA/_CERT/_KEY must be set for the secure database (see scripts/cassandra.sh env)", SecurePrefix)
	}
	return cfg
}

// Keyspace returns a unique keyspace name for a test.
func Keyspace(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t_" + hex.EncodeToString(b[:])
}

// New opens a store on cfg and fails the test, saying how to start the
// database, when it cannot.
func New(t testing.TB, cfg *scyllastate.Config, opts ...scyllastate.Option) *scyllastate.ScyllaState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg, opts...)
	if err != nil {
		t.Fatalf("scyllastate.New: %v\n(integration tests need a real Cassandra or Scylla: run `scripts/cassandra.sh start` and `eval \"$(scripts/cassandra.sh env)\"`, or `make test`)", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Session opens a raw driver session with cfg's contact points and
// credentials, for test assertions and cleanup.
func Session(t testing.TB, cfg *scyllastate.Config) *gocql.Session {
	t.Helper()
	c := gocql.NewCluster(cfg.Hosts...)
	c.Port = cfg.Port
	c.Timeout = 30 * time.Second
	c.ConnectTimeout = 10 * time.Second
	if cfg.Username != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.TLS != nil && cfg.TLS.Enabled {
		c.SslOpts = &gocql.SslOptions{CaPath: cfg.TLS.CAFile, CertPath: cfg.TLS.CertFile, KeyPath: cfg.TLS.KeyFile, EnableHostVerification: true}
	}
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("test session to %v: %v", cfg.Hosts, err)
	}
	return s
}

// DropKeyspace removes a test keyspace. Only tests do this.
func DropKeyspace(t testing.TB, cfg *scyllastate.Config) {
	if !strings.HasPrefix(cfg.Keyspace, "t_") {
		t.Errorf("refusing to drop non-test keyspace %q", cfg.Keyspace)
		return
	}
	s := Session(t, cfg)
	defer s.Close()
	if err := s.Query("DROP KEYSPACE IF EXISTS " + cfg.Keyspace).Exec(); err != nil {
		t.Logf("dropping test keyspace %s: %v", cfg.Keyspace, err)
	}
}
