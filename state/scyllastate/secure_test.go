//go:build integration

package scyllastate_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
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
	t.Helper()
	cfg := cqltest.SecureConfig(t)
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

	// Refusals that no retry can fix end New at once, even when it would
	// retry an unreachable database until its context ends.
	mustFail := func(name string, want error, mod func(c *scyllastate.Config), says ...string) {
		t.Run(name, func(t *testing.T) {
			c := *cfg
			tlsCopy := *cfg.TLS
			c.TLS = &tlsCopy
			mod(&c)
			start := time.Now()
			_, err := scyllastate.New(ctx, &c, scyllastate.WithRetryUntilDone())
			if !errors.Is(err, want) {
				t.Fatalf("want %v, got %v", want, err)
			}
			for _, s := range says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not say %q: %v", s, err)
				}
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Fatalf("New took %s to give up: it retried an error that no retry fixes", took)
			}
			if c.Password != "" && c.Password != c.Username && strings.Contains(err.Error(), c.Password) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	mustFail("wrong password", scyllastate.ErrAuth, func(c *scyllastate.Config) { c.Password = "not-the-password" })
	mustFail("no credentials", scyllastate.ErrAuth, func(c *scyllastate.Config) { c.Username, c.Password = "", "" },
		"requires authentication", "set scyllastate.username and scyllastate.password")
	mustFail("no client certificate", scyllastate.ErrTLS, func(c *scyllastate.Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" })
	mustFail("untrusted server", scyllastate.ErrTLS, func(c *scyllastate.Config) { c.TLS.CAFile = "" }) // system roots lack our CA
	t.Run("server without TLS", func(t *testing.T) {
		plain := *cqltest.Config(t, cqltest.DefaultPrefix)
		plain.TLS = &scyllastate.TLSConfig{Enabled: true, CAFile: cfg.TLS.CAFile}
		_, err := scyllastate.New(ctx, &plain, scyllastate.WithRetryUntilDone())
		if !errors.Is(err, scyllastate.ErrTLS) || !strings.Contains(err.Error(), "does not speak TLS") {
			t.Fatalf("want ErrTLS saying the server does not speak TLS, got %v", err)
		}
	})
	t.Run("expired client certificate", func(t *testing.T) {
		c := *cfg
		tlsCopy := *cfg.TLS
		c.TLS = &tlsCopy
		c.TLS.CertFile, c.TLS.KeyFile = expiredCert(t)
		_, err := scyllastate.New(ctx, &c)
		if !errors.Is(err, scyllastate.ErrInvalidConfig) || !strings.Contains(err.Error(), "tls.cert_file") || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("want an invalid tls.cert_file saying it expired, got %v", err)
		}
	})
	// A plain client to a TLS server sees a connection closed: as for an
	// unreachable server, that is retried.
	t.Run("no TLS", func(t *testing.T) {
		c := *cfg
		tlsCopy := *cfg.TLS
		c.TLS = &tlsCopy
		c.TLS.Enabled = false
		_, err := scyllastate.New(ctx, &c)
		if !errors.Is(err, scyllastate.ErrConnect) {
			t.Fatalf("want ErrConnect, got %v", err)
		}
	})

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

// expiredCert writes a self-signed client certificate that expired
// yesterday, and its key.
func expiredCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "expired"},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
