package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// fakeEnv makes the test binary act as ipfs-cluster-service (fakeService).
const fakeEnv = "CLUSTER_TEST_FAKE_SERVICE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(fakeCtlEnv); dir != "" {
		fakeCtl(dir)
	}
	mode := os.Getenv(fakeEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	a := os.Args[1:]
	var err error
	switch {
	case len(a) >= 3 && a[0] == "--config" && a[2] == "init":
		err = fakeInit(a[1])
	case len(a) >= 3 && a[0] == "--config" && a[2] == "daemon" && mode != "die":
		err = fakeDaemon(a[1])
	default:
		err = fmt.Errorf("fake ipfs-cluster-service (%s) refuses to start: %q", mode, a)
	}
	if err != nil {
		fmt.Println("Error:", err)
		os.Exit(1)
	}
}

// fakeInit is a stand-in for `ipfs-cluster-service --config DIR init`: a
// service.json with the swarm on 0.0.0.0 and the REST API on a free
// port, and an identity.json.
func fakeInit(dir string) error {
	api, err := proc.FreePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`{"cluster": {"listen_multiaddress": ["/ip4/0.0.0.0/udp/9096/quic-v1", "/ip4/0.0.0.0/tcp/9096"],
		"mdns_interval": "10s", "enable_relay_hop": true},
		"api": {"restapi": {"http_listen_multiaddress": "/ip4/127.0.0.1/tcp/%d"}, "ipfsproxy": {}},
		"ipfs_connector": {"ipfshttp": {"node_multiaddress": "/ip4/127.0.0.1/tcp/5001"}}}`, api)
	return errors.Join(os.WriteFile(filepath.Join(dir, "service.json"), []byte(conf), 0o600),
		os.WriteFile(filepath.Join(dir, "identity.json"), []byte(`{"id": "12D3KooWFake"}`), 0o600))
}

// fakeDaemon is a stand-in for `ipfs-cluster-service --config DIR
// daemon`: it answers GET /id on the REST API port, logs ReadyLine and
// runs until SIGTERM.
func fakeDaemon(dir string) error {
	port, err := (&Peer{Dir: dir}).RESTAPIPort()
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"id":"12D3KooWFake"}`)
	})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }() // ends with SIGTERM or with this function
	fmt.Println(ReadyLine)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// fakePeer is an initialised peer in a fresh folder whose
// ipfs-cluster-service is this test binary; its log tails go to tails.
// Each setup edits the peer before its init.
func fakePeer(t *testing.T, mode string, setup ...func(*Peer)) (*Peer, *lockedBuffer) {
	t.Helper()
	t.Setenv(fakeEnv, mode)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPeer(filepath.Join(t.TempDir(), "peer0"), self)
	if err != nil {
		t.Fatal(err)
	}
	tails := &lockedBuffer{}
	p.Logf, p.Tails, p.StartTimeout, p.StopTimeout = t.Logf, tails, 20*time.Second, 5*time.Second
	for _, f := range setup {
		f(p)
	}
	if err := p.Init(t.Context(), "scylla", "--randomports"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(t.Context()) })
	return p, tails
}

// config reads the peer's service.json.
func config(t *testing.T, p *Peer) map[string]any {
	t.Helper()
	var c map[string]any
	if err := jsonconf.Read(p.ConfigFile(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}
