package scyllacheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// testCA is a certificate authority written to PEM files for the tls
// section.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(t.TempDir(), name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue signs a certificate for the server (127.0.0.1) or a client and
// returns it with its key.
func (ca *testCA) issue(t *testing.T, name string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// files writes a client certificate and its key, for tls.cert_file and
// tls.key_file.
func clientFiles(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	writePEM(t, certFile, "CERTIFICATE", c.Certificate[0])
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", der)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fakeNode serves TLS 1.3 on 127.0.0.1, requiring a client certificate
// of clientCA, and answers each connection with serve once the
// handshake is done. It returns the address.
func fakeNode(t *testing.T, serverCA, clientCA *testCA, serve func(c *tls.Conn)) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	tc := &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serverCA.issue(t, "node", true)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", tc)
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
			go func() {
				defer func() { _ = c.Close() }()
				tconn := c.(*tls.Conn)
				if tconn.Handshake() != nil {
					return // the alert is sent
				}
				serve(tconn)
			}()
		}
	}()
	return l.Addr().String()
}

// answerCQL reads a request header and answers SUPPORTED, empty.
func answerCQL(c *tls.Conn) {
	var req [cqlHeaderLen]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return
	}
	_, _ = c.Write([]byte{cqlVersion4 | cqlResponseFlag, 0, req[2], req[3], 0x06, 0, 0, 0, 2, 0, 0})
}

func tlsTestConfig(ca *testCA, certFile, keyFile string) *scyllastate.Config {
	cfg := testConfig()
	cfg.ConnectTimeout, cfg.Timeout = 5*time.Second, 5*time.Second
	cfg.TLS = &scyllastate.TLSConfig{Enabled: true, CAFile: ca.file, CertFile: certFile, KeyFile: keyFile}
	return cfg
}

func TestTLSRoundTrip(t *testing.T) {
	serverCA, clientCA, otherCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca"), newTestCA(t, "other-ca")
	goodCert, goodKey := clientFiles(t, clientCA.issue(t, "peer", false))
	foreignCert, foreignKey := clientFiles(t, otherCA.issue(t, "stranger", false))
	cqlNode := fakeNode(t, serverCA, clientCA, answerCQL)

	t.Run("answered", func(t *testing.T) {
		if err := tlsRoundTrip(context.Background(), tlsTestConfig(serverCA, goodCert, goodKey), cqlNode); err != nil {
			t.Fatalf("round trip with a valid client certificate: %v", err)
		}
	})
	// With TLS 1.3 the client's handshake completes before the server
	// sees that the certificate is missing: the refusal must be found
	// every time, however it arrives (alert or closed connection).
	t.Run("no client certificate", func(t *testing.T) {
		cfg := tlsTestConfig(serverCA, "", "")
		for i := range 50 {
			err := tlsRoundTrip(context.Background(), cfg, cqlNode)
			if !errors.Is(err, scyllastate.ErrTLS) || !strings.Contains(err.Error(), "requires a client certificate") || !strings.Contains(err.Error(), "tls.cert_file") {
				t.Fatalf("attempt %d: %v, want a TLS error naming the missing client certificate", i+1, err)
			}
		}
	})
	t.Run("client certificate of another authority", func(t *testing.T) {
		err := tlsRoundTrip(context.Background(), tlsTestConfig(serverCA, foreignCert, foreignKey), cqlNode)
		if !errors.Is(err, scyllastate.ErrTLS) || !strings.Contains(err.Error(), "tls.cert_file") {
			t.Fatalf("%v, want a TLS error naming tls.cert_file", err)
		}
	})
	t.Run("closed after the handshake", func(t *testing.T) {
		addr := fakeNode(t, serverCA, clientCA, func(c *tls.Conn) { _ = c.NetConn().Close() })
		err := tlsRoundTrip(context.Background(), tlsTestConfig(serverCA, goodCert, goodKey), addr)
		if !errors.Is(err, scyllastate.ErrTLS) || !strings.Contains(err.Error(), "closed the connection") {
			t.Fatalf("%v, want a TLS error", err)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		addr := fakeNode(t, serverCA, clientCA, func(c *tls.Conn) { _, _ = io.Copy(io.Discard, c) })
		cfg := tlsTestConfig(serverCA, goodCert, goodKey)
		cfg.Timeout = 200 * time.Millisecond
		err := tlsRoundTrip(context.Background(), cfg, addr)
		if !errors.Is(err, scyllastate.ErrConnect) || errors.Is(err, scyllastate.ErrTLS) {
			t.Fatalf("%v, want a connection error that does not blame TLS", err)
		}
	})
	t.Run("not CQL", func(t *testing.T) {
		addr := fakeNode(t, serverCA, clientCA, func(c *tls.Conn) { _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
		err := tlsRoundTrip(context.Background(), tlsTestConfig(serverCA, goodCert, goodKey), addr)
		if !errors.Is(err, scyllastate.ErrConnect) || errors.Is(err, scyllastate.ErrTLS) {
			t.Fatalf("%v, want a connection error that does not blame TLS", err)
		}
	})
}

// TestConfirmTLS: a session error of the driver that blames neither TLS
// nor the credentials, after a handshake that succeeded, becomes a TLS
// failure that names the client certificate; and only then.
func TestConfirmTLS(t *testing.T) {
	serverCA, clientCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca")
	goodCert, goodKey := clientFiles(t, clientCA.issue(t, "peer", false))
	addr := fakeNode(t, serverCA, clientCA, answerCQL)
	driverErr := fmt.Errorf("%w: gocql: no response to connection startup within timeout", scyllastate.ErrConnect)
	host := func() diag.HostReport {
		return diag.HostReport{Host: "127.0.0.1", Address: addr, DialTime: time.Millisecond, TLS: true, TLSVersion: "TLS 1.3", SessionErr: driverErr}
	}

	t.Run("refused", func(t *testing.T) {
		f := healthy()
		f.Config = tlsTestConfig(serverCA, "", "")
		f.Hosts = []diag.HostReport{host()}
		confirmTLS(context.Background(), f.Config, &f.Hosts[0])
		if !errors.Is(f.Hosts[0].SessionErr, scyllastate.ErrTLS) {
			t.Fatalf("session error %v, want ErrTLS", f.Hosts[0].SessionErr)
		}
		fs := Analyze(f)
		got := one(t, fs, Fail, "tls", "127.0.0.1")
		if !strings.Contains(got.Message, "client certificate") || !strings.Contains(got.Hint, "tls.cert_file") {
			t.Errorf("tls finding %+v", got)
		}
		if len(find(fs, "cql")) > 0 || len(find(fs, "login")) > 0 {
			t.Errorf("a cql or login finding besides the TLS failure:\n%s", dump(fs))
		}
		if j := f.JSON().Hosts[0]; j.TLS == nil || !strings.Contains(j.TLS.Error, "client certificate") {
			t.Errorf("JSON tls %+v", j.TLS)
		}
	})
	t.Run("answered", func(t *testing.T) {
		cfg := tlsTestConfig(serverCA, goodCert, goodKey)
		h := host()
		confirmTLS(context.Background(), cfg, &h)
		if h.SessionErr != driverErr {
			t.Fatalf("session error %v, want the driver's", h.SessionErr)
		}
	})
	t.Run("not needed", func(t *testing.T) {
		cfg := tlsTestConfig(serverCA, "", "")
		for name, mod := range map[string]func(h *diag.HostReport){
			"session":       func(h *diag.HostReport) { h.SessionErr = nil },
			"login refused": func(h *diag.HostReport) { h.SessionErr = fmt.Errorf("%w: bad credentials", scyllastate.ErrAuth) },
			"no TLS":        func(h *diag.HostReport) { h.TLS = false },
			"handshake failed": func(h *diag.HostReport) {
				h.TLSErr = fmt.Errorf("%w: unknown authority", scyllastate.ErrTLS)
			},
		} {
			h := host()
			mod(&h)
			want := h.SessionErr
			confirmTLS(context.Background(), cfg, &h)
			if h.SessionErr != want {
				t.Errorf("%s: session error %v, want %v", name, h.SessionErr, want)
			}
		}
	})
}
