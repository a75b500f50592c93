package scyllastate_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// The secure instance (scripts/cassandra.sh with CASSANDRA_AUTH=1 and
// CASSANDRA_TLS=1) requires a password and a client certificate.
func secureConfig(t *testing.T) *scyllastate.Config {
	cfg := cqltest.Config(t, cqltest.SecurePrefix)
	if cfg.Username == "" || cfg.TLS == nil || !cfg.TLS.Enabled || cfg.TLS.CertFile == "" {
		t.Fatalf("%s_USERNAME/_PASSWORD and _TLS_CA/_CERT/_KEY must be set for the secure database (see scripts/cassandra.sh env)", cqltest.SecurePrefix)
	}
	cfg.RetryPolicy = &scyllastate.RetryPolicyConfig{NumRetries: 0, MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}
	return cfg
}

func TestAuthAndTLS(t *testing.T) {
	cfg := secureConfig(t)
	ctx := testCtx(t)
	st := cqltest.New(t, cfg)
	if err := st.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, statetest.Cid(1))
	if err != nil {
		t.Fatal(err)
	}
	statetest.RequireEqual(t, statetest.Pin(1), got)

	mustFail := func(name string, mod func(c *scyllastate.Config)) {
		t.Run(name, func(t *testing.T) {
			c := *cfg
			tlsCopy := *cfg.TLS
			c.TLS = &tlsCopy
			mod(&c)
			_, err := scyllastate.New(ctx, &c)
			if !errors.Is(err, scyllastate.ErrConnect) {
				t.Fatalf("want ErrConnect, got %v", err)
			}
			if c.Password != "" && strings.Contains(err.Error(), c.Password) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	mustFail("wrong password", func(c *scyllastate.Config) { c.Password = "not-the-password" })
	mustFail("no credentials", func(c *scyllastate.Config) { c.Username, c.Password = "", "" })
	mustFail("no TLS", func(c *scyllastate.Config) { c.TLS.Enabled = false })
	mustFail("no client certificate", func(c *scyllastate.Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" })
	mustFail("untrusted server", func(c *scyllastate.Config) { c.TLS.CAFile = "" }) // system roots lack our CA

	t.Run("insecure_skip_verify", func(t *testing.T) {
		c := *cfg
		tlsCopy := *cfg.TLS
		c.TLS = &tlsCopy
		c.TLS.CAFile = ""
		c.TLS.InsecureSkipVerify = true
		st := cqltest.New(t, &c)
		if ok, err := st.Has(ctx, statetest.Cid(1)); err != nil || !ok {
			t.Fatalf("Has = %v, %v", ok, err)
		}
	})
}
