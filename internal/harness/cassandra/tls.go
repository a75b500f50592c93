package cassandra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The test CA, server and client certificates of an instance
// (CASSANDRA_TLS=1), as PEM files in TLSDir: ca.pem, ca-key.pem,
// server.pem, server-key.pem, server-keystore.pem (key, certificate and CA
// for PEMBasedSslContextFactory), server.sans (the IPs it covers),
// client.pem, client-key.pem. Keys are unencrypted PKCS#8.

const tlsOrg = "ipfs-cluster-scylla tests"

// genTLS makes what is missing; the server certificate is redone when it
// does not cover every host (and 127.0.0.1-3).
func (in *Instance) genTLS() error {
	d := in.TLSDir
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(d, 0o700); err != nil {
		return err
	}
	want := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	for _, ip := range in.Hosts {
		if !slices.Contains(want, ip) {
			want = append(want, ip)
		}
	}
	path := func(n string) string { return filepath.Join(d, n) }
	caCert, caKey, err := loadPair(path("ca.pem"), path("ca-key.pem"))
	if err != nil {
		in.Logf("generating test CA in %s", d)
		caKey, err = newKey(path("ca-key.pem"))
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			Subject:               pkix.Name{Organization: []string{tlsOrg}, CommonName: "cassandra-test-ca-" + in.Name},
			BasicConstraintsValid: true, IsCA: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		if caCert, err = issue(path("ca.pem"), tmpl, nil, caKey, caKey); err != nil {
			return err
		}
		_ = os.Remove(path("server.pem"))
		_ = os.Remove(path("client.pem"))
	}
	covered, _ := os.ReadFile(path("server.sans"))
	have := strings.Split(strings.TrimSpace(string(covered)), ",")
	for _, ip := range want {
		if !slices.Contains(have, ip) {
			_ = os.Remove(path("server.pem"))
		}
	}
	if _, _, err := loadPair(path("server.pem"), path("server-key.pem")); err != nil {
		in.Logf("generating server certificate (SAN DNS:localhost,IP:%s)", strings.Join(want, ",IP:"))
		key, err := newKey(path("server-key.pem"))
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{Organization: []string{tlsOrg}, CommonName: "cassandra-" + in.Name},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:    []string{"localhost"}, BasicConstraintsValid: true,
		}
		for _, ip := range want {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		if _, err := issue(path("server.pem"), tmpl, caCert, key, caKey); err != nil {
			return err
		}
		var ks []byte
		for _, f := range []string{"server-key.pem", "server.pem", "ca.pem"} {
			b, err := os.ReadFile(path(f))
			if err != nil {
				return err
			}
			ks = append(ks, b...)
		}
		if err := os.WriteFile(path("server-keystore.pem"), ks, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(path("server.sans"), []byte(strings.Join(want, ",")+"\n"), 0o644); err != nil {
			return err
		}
	}
	if _, _, err := loadPair(path("client.pem"), path("client-key.pem")); err != nil {
		in.Logf("generating client certificate")
		key, err := newKey(path("client-key.pem"))
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{Organization: []string{tlsOrg}, CommonName: "cassandra"},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true,
		}
		if _, err := issue(path("client.pem"), tmpl, caCert, key, caKey); err != nil {
			return err
		}
	}
	for _, f := range []string{"ca-key.pem", "server-key.pem", "client-key.pem", "server-keystore.pem"} {
		if err := os.Chmod(path(f), 0o600); err != nil {
			return err
		}
	}
	return verifyTLS(d)
}

// verifyTLS checks that the server and client certificates chain to the CA.
func verifyTLS(d string) error {
	ca, _, err := loadPair(filepath.Join(d, "ca.pem"), filepath.Join(d, "ca-key.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, f := range []string{"server.pem", "client.pem"} {
		c, _, err := loadPair(filepath.Join(d, f), filepath.Join(d, strings.TrimSuffix(f, ".pem")+"-key.pem"))
		if err == nil {
			_, err = c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		}
		if err != nil {
			return fmt.Errorf("generated certificate %s does not verify: %w", filepath.Join(d, f), err)
		}
	}
	return nil
}

// newKey writes a new RSA 2048 key (PKCS#8 PEM) to path.
func newKey(path string) (*rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// issue signs tmpl (for key) with parent's signer (parent nil: self-signed)
// and writes the certificate to path.
func issue(path string, tmpl, parent *x509.Certificate, key *rsa.PrivateKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().AddDate(10, 0, 0)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("issuing %s: %w", path, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// loadPair reads a certificate and its PKCS#8 RSA key.
func loadPair(certPath, keyPath string) (*x509.Certificate, *rsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, errors.New("no PEM block")
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an RSA key", keyPath)
	}
	return cert, rk, nil
}
