//go:build integration

package scyllacheck_test

import (
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service/scyllacheck"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// variant copies cfg (and its TLS settings) and changes the copy.
func variant(cfg *scyllastate.Config, mod func(c *scyllastate.Config)) *scyllastate.Config {
	c := *cfg
	tlsCopy := *cfg.TLS
	c.TLS = &tlsCopy
	mod(&c)
	return &c
}

func TestTLSAndLogin(t *testing.T) {
	cfg := cqltest.SecureConfig(t)
	_ = cqltest.New(t, cfg) // creates the keyspace
	host := cfg.Hosts[0]

	t.Run("good", func(t *testing.T) {
		r := run(t, cfg, "")
		if f := only(t, r, scyllacheck.OK, "tls", host); !strings.Contains(f.Message, "TLS 1.") || !strings.Contains(f.Message, "valid until") {
			t.Errorf("tls: %q", f.Message)
		}
		if f := only(t, r, scyllacheck.OK, "login", host); !strings.Contains(f.Message, cfg.Username) {
			t.Errorf("login: %q", f.Message)
		}
		only(t, r, scyllacheck.OK, "version")
		if r.Verdict == scyllacheck.Fail {
			t.Fatalf("verdict FAIL on the secure database")
		}
	})
	cases := []struct {
		name, check, text string
		// repeat is how many checks run (default 1).
		repeat int
		mod    func(c *scyllastate.Config)
	}{
		{"wrong password", "login", "username and password", 0, func(c *scyllastate.Config) { c.Password = "not-the-password-7c1f" }},
		{"no credentials", "login", "requires a login", 0, func(c *scyllastate.Config) { c.Username, c.Password = "", "" }},
		// With TLS 1.3 the server refuses the missing certificate after
		// the client's handshake completed, and how the refusal reaches
		// the driver varies from one connection to the next: a few
		// checks, each of which must see it.
		{"no client certificate", "tls", "client certificate", 20, func(c *scyllastate.Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }},
		{"untrusted server", "tls", "not signed by an authority of tls.ca_file", 0, func(c *scyllastate.Config) { c.TLS.CAFile = "" }},
		{"plain client", "cql", "tls.enabled", 0, func(c *scyllastate.Config) { c.TLS.Enabled = false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range max(c.repeat, 1) {
				checkFails(t, variant(cfg, c.mod), host, c.check, c.text)
			}
		})
	}
	t.Run("server without TLS", func(t *testing.T) {
		plain := *cqltest.Config(t, cqltest.DefaultPrefix) // a copy: the cleanup drops the keyspace without TLS
		plain.TLS = &scyllastate.TLSConfig{Enabled: true, CAFile: cfg.TLS.CAFile}
		r := run(t, &plain, "")
		f := only(t, r, scyllacheck.Fail, "tls", plain.Hosts[0])
		if !strings.Contains(f.Message, "does not speak TLS") {
			t.Errorf("tls: %q", f.Message)
		}
	})
}

// checkFails checks cfg and requires a failure of check for host that
// says text, no other failure in the hosts section (a TLS refusal is no
// CQL failure), a failed verdict and the keyspace not checked.
func checkFails(t *testing.T, cfg *scyllastate.Config, host, check, text string) {
	t.Helper()
	r := run(t, cfg, "")
	f := only(t, r, scyllacheck.Fail, check, host)
	if !strings.Contains(f.Message+" "+f.Hint, text) {
		t.Errorf("%s finding %+v lacks %q", check, f, text)
	}
	for _, o := range r.Findings {
		if o.Section == scyllacheck.SectionHosts && o.Status == scyllacheck.Fail && o.Check != check {
			t.Errorf("a %s failure besides the %s one: %+v", o.Check, check, o)
		}
	}
	if r.Verdict != scyllacheck.Fail || r.ExitCode(false) != scyllacheck.ExitFail {
		t.Errorf("verdict %s exit %d", r.Verdict, r.ExitCode(false))
	}
	only(t, r, scyllacheck.Skip, "exists")
}
