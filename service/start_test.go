//go:build scylla && integration

package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/test"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/kubotest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// forwarder is a TCP port that refuses connections until open is called,
// then forwards them to the real database: the database "comes up".
type forwarder struct {
	port   int
	target string
	mu     sync.Mutex
	ln     net.Listener
	wg     sync.WaitGroup
}

func newForwarder(t *testing.T, target string) *forwarder {
	port := freePort(t) // refused until open
	f := &forwarder{port: port, target: target}
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) open(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(f.port))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.pipe(c)
		}
	}()
}

func (f *forwarder) pipe(c net.Conn) {
	defer c.Close()
	d, err := net.Dial("tcp", f.target)
	if err != nil {
		return
	}
	defer d.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(d, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, d); done <- struct{}{} }()
	<-done
}

func (f *forwarder) close() {
	f.mu.Lock()
	if f.ln != nil {
		f.ln.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func TestPeerWaitsForTheDatabase(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	fw := newForwarder(t, net.JoinHostPort(db.Hosts[0], strconv.Itoa(db.Port)))
	down := *db
	down.Hosts = []string{"127.0.0.1:" + strconv.Itoa(fw.port)}
	down.ConnectTimeout = time.Second

	storeLog := watchLog(t, "scyllastate")
	k := kubotest.Start(t)
	p := &testPeer{dir: t.TempDir()}
	writeConfigWith(t, p.dir, &down, nil, "early", func(c *config.Configs) {
		c.Ipfshttp.NodeAddr = k.NodeAddr()
		c.Ipfsproxy.NodeAddr = k.NodeAddr()
	})
	started := make(chan struct{})
	go func() {
		defer close(started)
		p.start(t, service.Options{})
	}()
	select {
	case <-started:
		t.Fatal("the peer became ready while the database was unreachable")
	case <-time.After(4 * time.Second):
	}
	// The log says why it waits, for which host, and which setting bounds the wait.
	line := storeLog.line("database unreachable, retrying")
	if !strings.Contains(line, down.Hosts[0]) || !strings.Contains(line, "ready_timeout") {
		t.Errorf("while the database is down the log line %q should say so, naming %s and ready_timeout", line, down.Hosts[0])
	}
	fw.open(t)
	select {
	case <-started:
	case <-time.After(70 * time.Second):
		t.Fatal("the peer did not become ready after the database came up")
	}
	defer p.stop(t)
	c := k.Add(t, fmt.Appendf(nil, "after the database came up %d", time.Now().UnixNano()))
	if _, err := p.peer.Cluster.Pin(context.Background(), c, everywhere()); err != nil {
		t.Fatalf("pinning once the database is up: %s", err)
	}
	waitFor(t, 30*time.Second, "the pin pinned in kubo", func() bool { return k.Pinned(t, c) })
}

func TestPeerStopsOnSchemaItCannotUse(t *testing.T) {
	db := cqltest.Config(t, cqltest.DefaultPrefix)
	db.SchemaMode = scyllastate.SchemaModeCheck // the keyspace is empty
	p := &testPeer{dir: t.TempDir(), ipfs: test.NewIpfsMock(t)}
	t.Cleanup(p.ipfs.Close)
	writeConfig(t, p.dir, db, p.ipfs, "noschema")
	h := loadHelper(t, p.dir)
	peer, err := service.NewPeer(context.Background(), h, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.Cluster.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the peer did not stop on a missing schema")
	}
	err = peer.Err()
	if !errors.Is(err, scyllastate.ErrSchema) {
		t.Fatalf("want the schema error, got %v", err)
	}
	t.Logf("the peer stopped with: %s", err)
	_ = peer.Shutdown(context.Background())
}
