package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// fakeCtlEnv makes the test binary act as ipfs-cluster-ctl (fakeCtl): it
// names a folder of answers.
const fakeCtlEnv = "CLUSTER_TEST_FAKE_CTL"

// fakeCtl is a stand-in for `ipfs-cluster-ctl --host H --enc=json ARGS`:
// it prints the file of dir named by ARGS joined with "_" (none: exit 1)
// and records H in dir/host.
func fakeCtl(dir string) {
	a := os.Args[1:]
	if len(a) < 3 || a[0] != "--host" || a[2] != "--enc=json" {
		fmt.Fprintf(os.Stderr, "fake ctl: unexpected %q\n", a)
		os.Exit(2)
	}
	_ = os.WriteFile(filepath.Join(dir, "host"), []byte(a[1]), 0o644)
	b, err := os.ReadFile(filepath.Join(dir, strings.Join(a[3:], "_")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake ctl:", err)
		os.Exit(1)
	}
	os.Stdout.Write(b)
	os.Exit(0)
}

// fakeCtlFor is a Ctl against p whose answers are answers (ARGS joined
// with "_": output).
func fakeCtlFor(t *testing.T, p *Peer, answers map[string]string) (Ctl, string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range answers {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(fakeCtlEnv, dir)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Ctl{Peer: p, Bin: self}, dir
}

func TestCtlAnswersStatusCountsAndMetricsOfThePeer(t *testing.T) {
	p, _ := fakePeer(t, "serve")
	c, dir := fakeCtlFor(t, p, map[string]string{
		"status_Qm1":               `{"cid":"Qm1","peer_map":{"a":{"status":"pinned"},"b":{"status":"pinned"}}}`,
		"status_Qm2":               `{"cid":"Qm2","peer_map":{"a":{"status":"pinned"},"b":{"status":"pinning"}}}`,
		"status_Qm3":               `{"cid":"Qm3","peer_map":{}}`,
		"status":                   "{\"cid\":\"Qm1\"}\n{\"cid\":\"Qm2\"}\n{\"cid\":\"Qm3\"}\n",
		"pin_ls":                   "",
		"health_metrics_ping":      `[{"name":"ping","peer":"12D3KooWFake","valid":true},{"name":"ping","peer":"other","valid":true}]`,
		"health_metrics_freespace": `[{"name":"freespace","peer":"12D3KooWFake","valid":false}]`,
	})
	ctx := t.Context()
	for cid, want := range map[string]bool{"Qm1": true, "Qm2": false, "Qm3": false} {
		if got, err := c.StatusIs(ctx, cid, "pinned"); got != want || err != nil {
			t.Errorf("StatusIs(%s, pinned) = %v, %v; want %v", cid, got, err, want)
		}
	}
	if _, err := c.StatusIs(ctx, "QmUnknown", "pinned"); err == nil {
		t.Error("a failed ctl call gave no error")
	}
	if n, err := c.Count(ctx, "status"); n != 3 || err != nil {
		t.Errorf("status count = %d, %v", n, err)
	}
	if n, err := c.Count(ctx, "pin", "ls"); n != 0 || err != nil {
		t.Errorf("pin count = %d, %v", n, err)
	}
	port, _ := p.RESTAPIPort()
	if b, _ := os.ReadFile(filepath.Join(dir, "host")); string(b) != fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port) {
		t.Errorf("--host %s, want the REST API port %d", b, port)
	}
	if has, err := c.HasMetric(ctx, "ping"); !has || err != nil {
		t.Errorf("ping: %v %v", has, err)
	}
	if err := c.WaitMetrics(ctx, 0, "ping"); err != nil {
		t.Errorf("WaitMetrics(ping): %v", err)
	}
	err := c.WaitMetrics(ctx, time.Second)
	if !errors.Is(err, proc.ErrTimeout) || !strings.Contains(err.Error(), "no freespace metric") {
		t.Errorf("WaitMetrics of an invalid freespace metric: %v", err)
	}
	args, _ := c.Args("id")
	if !slices.Equal(args[1:], []string{"--host", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port), "id"}) {
		t.Errorf("Args(id) = %q", args)
	}
}

func TestTLSCertServesLoopbackForADay(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTLSCert(dir); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "server.crt"))
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: time.Now().Add(25 * time.Hour)}); err == nil {
		t.Error("still valid after a day")
	}
	if len(pair.Certificate) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("certificate: %v", cert.IPAddresses)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "server.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
}
