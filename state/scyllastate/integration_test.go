//go:build integration

package scyllastate_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/inmem"
	"github.com/ipfs-cluster/ipfs-cluster/state"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"
	ds "github.com/ipfs/go-datastore"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// scyllaUnderTest adapts a ScyllaState to the conformance suite.
type scyllaUnderTest struct{ *scyllastate.ScyllaState }

func (s scyllaUnderTest) BatchingState(*testing.T) state.BatchingState { return s.Batch() }

// dsUnderTest adapts upstream dsstate over an in-memory datastore.
type dsUnderTest struct {
	*dsstate.State
	store ds.Batching
}

func (d dsUnderTest) BatchingState(t *testing.T) state.BatchingState {
	b, err := dsstate.NewBatching(context.Background(), d.store, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newDSState(t *testing.T) state.State {
	store := inmem.New().(ds.Batching)
	st, err := dsstate.New(context.Background(), store, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return dsUnderTest{State: st, store: store}
}

func newScyllaState(t *testing.T) state.State {
	return scyllaUnderTest{cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))}
}

// TestConformance runs the same state semantics against upstream's
// dsstate (the reference) and scyllastate.
func TestConformance(t *testing.T) {
	t.Run("dsstate", func(t *testing.T) { statetest.Run(t, newDSState) })
	t.Run("scyllastate", func(t *testing.T) { statetest.Run(t, newScyllaState) })
}

// TestLossless checks the fields upstream's protobuf drops: mode, user
// allocations and sub-second timestamps.
func TestLossless(t *testing.T) {
	st := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	ctx := testCtx(t)
	p := statetest.Pin(1)
	p.Timestamp = time.Unix(1_700_000_000, 123456789)
	p.ExpireAt = time.Now().Add(time.Hour)
	p.UserAllocations = []peer.ID{statetest.PeerID(7), statetest.PeerID(8)}
	p.Mode = 0 // PinModeRecursive by value, differs from what MaxDepth says below
	p.MaxDepth = 5
	if err := st.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, p.Cid)
	if err != nil {
		t.Fatal(err)
	}
	statetest.RequireEqual(t, p, got)
	all := statetest.ListAll(t, ctx, st)
	statetest.RequireEqual(t, p, all[p.Cid])

	// A timestamp outside int64 nanoseconds keeps its seconds.
	far := statetest.Pin(2)
	far.ExpireAt = time.Date(3000, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := st.Add(ctx, far); err != nil {
		t.Fatal(err)
	}
	got, err = st.Get(ctx, far.Cid)
	if err != nil {
		t.Fatal(err)
	}
	statetest.RequireEqual(t, far, got)
}

func TestGetMissingIsErrNotFound(t *testing.T) {
	st := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	_, err := st.Get(testCtx(t), statetest.Cid(12345))
	if err != state.ErrNotFound { //nolint:errorlint // upstream compares with ==
		t.Fatalf("want state.ErrNotFound itself, got %v", err)
	}
}

func TestAddUndefinedCid(t *testing.T) {
	st := cqltest.New(t, cqltest.Config(t, cqltest.DefaultPrefix))
	p := statetest.Pin(2)
	p.Cid = api.CidUndef
	if err := st.Add(testCtx(t), p); !errors.Is(err, scyllastate.ErrUndefinedCid) {
		t.Fatalf("want ErrUndefinedCid, got %v", err)
	}
}

// TestSecondNewOnExistingSchema opens the same keyspace twice, as a
// second peer (or a restart) does, and sees the first one's pins.
func TestSecondNewOnExistingSchema(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	a := cqltest.New(t, cfg)
	ctx := testCtx(t)
	if err := a.Add(ctx, statetest.Pin(1)); err != nil {
		t.Fatal(err)
	}
	b := cqltest.New(t, cfg)
	got, err := b.Get(ctx, statetest.Cid(1))
	if err != nil {
		t.Fatalf("second store does not see the first one's pin: %v", err)
	}
	statetest.RequireEqual(t, statetest.Pin(1), got)

	// schema_mode "check" accepts the existing schema without DDL.
	checkCfg := *cfg
	checkCfg.SchemaMode = scyllastate.SchemaModeCheck
	c := cqltest.New(t, &checkCfg)
	if ok, err := c.Has(ctx, statetest.Cid(1)); err != nil || !ok {
		t.Fatalf("store in check mode: Has = %v, %v", ok, err)
	}
	// Closing a store leaves the pins in place for the others.
	_ = a.Close()
	if ok, err := b.Has(ctx, statetest.Cid(1)); err != nil || !ok {
		t.Fatalf("after closing one store the pin is gone: %v, %v", ok, err)
	}
}

func TestSchemaModeCheckRefusesMissingSchema(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.SchemaMode = scyllastate.SchemaModeCheck
	_, err := scyllastate.New(testCtx(t), cfg)
	if !errors.Is(err, scyllastate.ErrSchema) || !strings.Contains(err.Error(), "schema_mode") {
		t.Fatalf("want ErrSchema naming schema_mode, got %v", err)
	}
	// Nothing was created.
	s := cqltest.Session(t, cfg)
	defer s.Close()
	var n int
	if err := s.Query("SELECT count(*) FROM system_schema.keyspaces WHERE keyspace_name = ?", cfg.Keyspace).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("schema_mode check created the keyspace")
	}
}

func TestNewerSchemaIsUsedOnlyWhenItSaysSo(t *testing.T) {
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cqltest.New(t, cfg)
	s := cqltest.Session(t, cfg)
	defer s.Close()
	// A newer build records its version as a new row of schema_history.
	setVersion := func(v, minCompatible int) {
		t.Helper()
		if err := s.Query("INSERT INTO "+cfg.Keyspace+".schema_history (component, version, min_compatible) VALUES ('scyllastate', ?, ?)",
			v, minCompatible).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	// A newer schema that declares this build compatible is used.
	setVersion(scyllastate.SchemaVersion+1, scyllastate.SchemaVersion)
	st, err := scyllastate.New(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("a newer schema compatible with this build was refused: %v", err)
	}
	st.Close()
	// One that needs newer builds is refused, naming both versions.
	setVersion(99, 99)
	_, err = scyllastate.New(testCtx(t), cfg)
	if !errors.Is(err, scyllastate.ErrSchema) || !strings.Contains(err.Error(), "version 99") || !strings.Contains(err.Error(), "upgrade ipfs-cluster-service") {
		t.Fatalf("want ErrSchema about version 99 asking for a newer build, got %v", err)
	}
}

func TestReplicationSettingsCreateKeyspace(t *testing.T) {
	// NetworkTopologyStrategy with the local data center: a working store.
	cfg := cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.ReplicationStrategy = scyllastate.NetworkTopologyStrategy
	cfg.DCReplication = map[string]int{"datacenter1": 1}
	cqltest.New(t, cfg)
	if got := keyspaceReplication(t, cfg); !strings.Contains(got, "NetworkTopologyStrategy") || !strings.Contains(got, `"datacenter1":"1"`) {
		t.Fatalf("keyspace replication %s", got)
	}

	// replication_factor 2 on a one-node database: the keyspace is made
	// with two replicas, and the store refuses to start because a quorum
	// of them cannot answer.
	cfg = cqltest.Config(t, cqltest.DefaultPrefix)
	cfg.ReplicationFactor = 2
	cfg.RetryPolicy.NumRetries = 0
	_, err := scyllastate.New(testCtx(t), cfg)
	if !errors.Is(err, scyllastate.ErrSchema) {
		t.Fatalf("want ErrSchema for two replicas on one node, got %v", err)
	}
	if got := keyspaceReplication(t, cfg); !strings.Contains(got, "SimpleStrategy") || !strings.Contains(got, `"replication_factor":"2"`) {
		t.Fatalf("keyspace replication %s", got)
	}
}

func TestUnreachableDatabaseFailsWithErrConnect(t *testing.T) {
	cfg := &scyllastate.Config{
		Hosts: []string{"127.0.0.1"}, Port: 1, Keyspace: "unreachable",
		ConnectTimeout: time.Second,
		RetryPolicy:    &scyllastate.RetryPolicyConfig{NumRetries: 2, MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond},
	}
	_ = cfg.Default()
	start := time.Now()
	_, err := scyllastate.New(testCtx(t), cfg)
	if !errors.Is(err, scyllastate.ErrConnect) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("want ErrConnect naming the host, got %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("3 attempts took %s", time.Since(start))
	}
	// A cancelled context stops the retries at once.
	cfg.RetryPolicy.NumRetries = 100 // the most Validate allows
	cfg.RetryPolicy.MinRetryDelay = time.Second
	cfg.RetryPolicy.MaxRetryDelay = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = scyllastate.New(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("want the context's deadline within seconds, got %v after %s", err, time.Since(start))
	}
}

// TestConnectTimeoutIsApplied connects to a loopback listener that accepts
// TCP connections and never answers: each attempt gives up after
// connect_timeout.
func TestConnectTimeoutIsApplied(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, say nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	elapsed := func(timeout time.Duration) time.Duration {
		cfg := &scyllastate.Config{
			Hosts:          []string{ln.Addr().String()},
			Keyspace:       "silent",
			ConnectTimeout: timeout,
			RetryPolicy:    &scyllastate.RetryPolicyConfig{NumRetries: 0, MinRetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
		}
		_ = cfg.Default()
		start := time.Now()
		_, err := scyllastate.New(testCtx(t), cfg)
		if !errors.Is(err, scyllastate.ErrConnect) {
			t.Fatalf("want ErrConnect from a silent server, got %v", err)
		}
		return time.Since(start)
	}
	short, long := elapsed(200*time.Millisecond), elapsed(2*time.Second)
	if short >= 2*time.Second || long < 2*time.Second {
		t.Fatalf("connect_timeout 200ms gave up after %s, connect_timeout 2s after %s", short, long)
	}
}
