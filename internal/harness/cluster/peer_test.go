package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInitWithRandomPortsMovesEveryListenPortToPorts: with Ports set, a
// peer initialised with --randomports listens where Ports says, the
// swarm's QUIC and TCP addresses on one port, and the daemon serves there.
func TestInitWithRandomPortsMovesEveryListenPortToPorts(t *testing.T) {
	var given []int
	p, _ := fakePeer(t, "serve", func(p *Peer) {
		p.Ports = func() (int, error) {
			port, err := proc.FreePort()
			given = append(given, port)
			return port, err
		}
	})
	if len(given) != 2 {
		t.Fatalf("Ports was asked %d times, want 2 (the swarm's port and the REST API's): %v", len(given), given)
	}
	c := config(t, p)
	swarm := fmt.Sprintf("[/ip4/127.0.0.1/udp/%d/quic-v1 /ip4/127.0.0.1/tcp/%d]", given[0], given[0])
	if got := fmt.Sprint(jsonconf.Get(c, "cluster.listen_multiaddress")); got != swarm {
		t.Errorf("listen_multiaddress = %s, want %s", got, swarm)
	}
	if port, err := p.RESTAPIPort(); err != nil || port != given[1] {
		t.Errorf("REST API port = %d (%v), want %d", port, err, given[1])
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("the daemon does not serve on its moved REST API port: %v", err)
	}
}

func TestMovePortsReportsPortsItCannotGet(t *testing.T) {
	c := map[string]any{"api": map[string]any{"restapi": map[string]any{"http_listen_multiaddress": "/ip4/127.0.0.1/tcp/9094"}}}
	err := MovePorts(c, func() (int, error) { return 0, errors.New("no free port") })
	if err == nil || !strings.Contains(err.Error(), "no free port") {
		t.Errorf("MovePorts = %v, want the port source's error", err)
	}
}

func TestInitKeepsThePeerOnLoopbackAndPointsItAtKuboAndTheDatabase(t *testing.T) {
	p, _ := fakePeer(t, "serve")
	c := config(t, p)
	if got := fmt.Sprint(jsonconf.Get(c, "cluster.listen_multiaddress")); got != "[/ip4/127.0.0.1/udp/9096/quic-v1 /ip4/127.0.0.1/tcp/9096]" {
		t.Errorf("listen_multiaddress = %s", got)
	}
	if jsonconf.Get(c, "cluster.mdns_interval") != "0s" || jsonconf.Get(c, "cluster.enable_relay_hop") != false {
		t.Errorf("mDNS or relay left on: %v %v", jsonconf.Get(c, "cluster.mdns_interval"), jsonconf.Get(c, "cluster.enable_relay_hop"))
	}
	if err := p.Edit(func(c map[string]any) {
		UseIPFS(c, 5101)
		UseScylla(c, "sh_test", []string{"127.0.0.1", "127.0.0.2"}, 9142)
	}); err != nil {
		t.Fatal(err)
	}
	c = config(t, p)
	for path, want := range map[string]string{
		"ipfs_connector.ipfshttp.node_multiaddress": "/ip4/127.0.0.1/tcp/5101",
		"api.ipfsproxy.node_multiaddress":           "/ip4/127.0.0.1/tcp/5101",
		"state.scyllastate.keyspace":                "sh_test",
		"state.scyllastate.hosts":                   "[127.0.0.1 127.0.0.2]",
		"state.scyllastate.port":                    "9142",
	} {
		if got := fmt.Sprint(jsonconf.Get(c, path)); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	addr, err := p.Addr()
	if err != nil || addr != "/ip4/127.0.0.1/tcp/9096/p2p/12D3KooWFake" {
		t.Errorf("Addr = %q, %v", addr, err)
	}
}

func TestAStringListenAddressIsMovedToLoopbackToo(t *testing.T) {
	c := map[string]any{"cluster": map[string]any{"listen_multiaddress": "/ip6/::/tcp/9096"}}
	Loopback(c)
	if got := jsonconf.Get(c, "cluster.listen_multiaddress"); got != "/ip6/::1/tcp/9096" {
		t.Errorf("listen_multiaddress = %v", got)
	}
	none := map[string]any{"api": map[string]any{}}
	Loopback(none)
	if _, ok := none["cluster"]; ok {
		t.Error("Loopback added a cluster section")
	}
}

// started is a fake peer started, and its pid.
func started(t *testing.T) (*Peer, *lockedBuffer, int) {
	t.Helper()
	p, tails := fakePeer(t, "serve")
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	if pid == 0 {
		t.Fatal("no running pid after Start")
	}
	return p, tails, pid
}

func TestStartWaitsForTheAPIAndStopEndsTheDaemon(t *testing.T) {
	p, _, pid := started(t)
	ctx := context.Background()
	if b, err := os.ReadFile(p.Dir + "/daemon.pid.start"); err != nil || len(b) == 0 {
		t.Errorf("no start time recorded: %v", err)
	}
	if _, err := p.Daemon(); !errors.Is(err, ErrRunning) {
		t.Errorf("second daemon: %v, want ErrRunning", err)
	}
	if err := p.WaitReady(ctx, 0); err != nil {
		t.Errorf("WaitReady: %v", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !proc.Exited(pid) {
		t.Fatalf("pid %d still runs after Stop", pid)
	}
	if _, err := os.Stat(p.Dir + "/daemon.pid"); !os.IsNotExist(err) {
		t.Errorf("pid file kept: %v", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p.LogFile() + ".1"); err != nil || !strings.Contains(string(b), ReadyLine) {
		t.Errorf("the previous log was not kept as daemon.log.1: %q %v", b, err)
	}
}

func TestKillLeavesTheFolderAndADeadDaemonIsReportedWithItsLog(t *testing.T) {
	p, tails, pid := started(t)
	ctx := context.Background()
	if err := p.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if !proc.Exited(pid) {
		t.Fatalf("pid %d still runs after Kill", pid)
	}
	if _, err := os.Stat(p.ConfigFile()); err != nil {
		t.Errorf("Kill removed the config: %v", err)
	}
	if err := p.Wait(ctx, 0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Wait on a killed peer: %v, want ErrNotRunning", err)
	}
	if !strings.Contains(tails.String(), "===== last 60 lines of "+p.LogFile()) {
		t.Errorf("no log tail: %q", tails.String())
	}
}

func TestADaemonThatDiesAtStartFailsWaitAtOnce(t *testing.T) {
	p, tails := fakePeer(t, "die")
	if err := p.Start(context.Background()); !errors.Is(err, ErrNotRunning) || !strings.Contains(tails.String(), "refuses to start") {
		t.Fatalf("Start: %v (want ErrNotRunning); log shown: %q", err, tails.String())
	}
}
