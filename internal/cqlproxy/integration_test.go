//go:build integration

package cqlproxy

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// These tests need the real database of scripts/cassandra.sh (see
// internal/cqltest): a missing database fails them.

// dbEnv is a throwaway keyspace with a table kv (k int, v text), a direct
// session to the node, and a proxy in front of it.
type dbEnv struct {
	t      *testing.T
	cfg    *scyllastate.Config // the direct configuration
	ks     string
	direct *gocql.Session
	p      *Proxy
}

func newDBEnv(t *testing.T) *dbEnv {
	t.Helper()
	cfg := cqltest.Config(t, cqltest.DefaultPrefix) // drops the keyspace at the end
	if cfg.TLS != nil && cfg.TLS.Enabled {
		t.Fatalf("the proxy needs plain CQL: %s_TLS_* must not be set", cqltest.DefaultPrefix)
	}
	target := cfg.Hosts[0]
	if _, _, err := net.SplitHostPort(target); err != nil {
		target = net.JoinHostPort(target, strconv.Itoa(cfg.Port))
	}
	direct := cqltest.Session(t, cfg)
	t.Cleanup(direct.Close)
	e := &dbEnv{t: t, cfg: cfg, ks: cfg.Keyspace, direct: direct}
	e.exec(direct, "CREATE KEYSPACE "+e.ks+" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
	e.exec(direct, "CREATE TABLE "+e.ks+".kv (k int PRIMARY KEY, v text)")

	p := startProxy(t, target)
	e.p = p
	return e
}

func (e *dbEnv) exec(s *gocql.Session, stmt string, values ...any) {
	e.t.Helper()
	if err := s.Query(stmt, values...).Exec(); err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
}

// session opens a gocql session through the proxy with ConfigureCluster,
// one connection, the given timeout and no retries.
func (e *dbEnv) session(timeout time.Duration) *gocql.Session {
	e.t.Helper()
	c := gocql.NewCluster()
	e.p.ConfigureCluster(c)
	c.Keyspace = e.ks
	c.Consistency = gocql.One
	c.Timeout = timeout
	c.ConnectTimeout = 10 * time.Second
	c.NumConns = 1
	c.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
	if e.cfg.Username != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: e.cfg.Username, Password: e.cfg.Password}
	}
	s, err := c.CreateSession()
	if err != nil {
		e.t.Fatalf("session through the proxy: %v", err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// value reads kv[k] with the direct session ("" when absent).
func (e *dbEnv) value(k int) string {
	e.t.Helper()
	var v string
	err := e.direct.Query("SELECT v FROM "+e.ks+".kv WHERE k = ?", k).Consistency(gocql.One).Scan(&v)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		e.t.Fatalf("reading k=%d directly: %v", k, err)
	}
	return v
}

// TestDBAmbiguousWrite drops the responses to the INSERTs into kv: the
// client times out, yet the rows are written.
func TestDBAmbiguousWrite(t *testing.T) {
	e := newDBEnv(t)
	s := e.session(time.Second)
	insert := "INSERT INTO " + e.ks + ".kv (k, v) VALUES (?, ?)"
	e.p.DropResponsesWhere(StatementContains("INSERT INTO", e.ks+".kv"))

	start := time.Now()
	err := s.Query(insert, 1, "ambiguous").Exec() // gocql prepares it first: PREPARE passes
	if !errors.Is(err, gocql.ErrTimeoutNoResponse) {
		t.Fatalf("INSERT: got %v after %s, want gocql.ErrTimeoutNoResponse", err, time.Since(start))
	}
	b := s.NewBatch(gocql.LoggedBatch)
	b.Query(insert, 2, "batched")
	b.Query(insert, 3, "batched")
	if err := s.ExecuteBatch(b); !errors.Is(err, gocql.ErrTimeoutNoResponse) {
		t.Fatalf("BATCH: got %v, want gocql.ErrTimeoutNoResponse", err)
	}
	if st := e.p.Stats(); st.ResponsesDropped != 2 {
		t.Fatalf("dropped %d responses, want 2 (%+v)", st.ResponsesDropped, st)
	}
	// The writes landed.
	for k, want := range map[int]string{1: "ambiguous", 2: "batched", 3: "batched"} {
		if got := e.value(k); got != want {
			t.Errorf("k=%d: %q, want %q", k, got, want)
		}
	}
	// Reads are not selected: they pass meanwhile.
	var v string
	if err := s.Query("SELECT v FROM kv WHERE k = ?", 1).Scan(&v); err != nil || v != "ambiguous" {
		t.Fatalf("read through the proxy during the drop: %q, %v", v, err)
	}

	e.p.Pass()
	if err := s.Query(insert, 4, "acknowledged").Exec(); err != nil {
		t.Fatalf("INSERT after Pass: %v", err)
	}
	if got := e.value(4); got != "acknowledged" {
		t.Fatalf("k=4: %q", got)
	}
}

// TestDBHoldResponsesReleasesInOrder holds the responses of a raw CQL
// connection, one at a time so that the node answers in a known order,
// and checks that Pass releases them in that order; then that a gocql
// query waits for the release and succeeds.
func TestDBHoldResponsesReleasesInOrder(t *testing.T) {
	e := newDBEnv(t)
	for k := 1; k <= 5; k++ {
		e.exec(e.direct, "INSERT INTO "+e.ks+".kv (k, v) VALUES (?, ?)", k, "v"+strconv.Itoa(k))
	}

	c := dialClient(t, e.p)
	c.send(0, OpStartup, startupBody())
	switch f := c.recv(10 * time.Second); f.opcode {
	case OpReady:
	case OpAuthenticate:
		token := append(append([]byte{0}, e.cfg.Username...), 0)
		token = append(token, e.cfg.Password...)
		c.send(0, OpAuthResponse, appendValue(nil, token))
		if f := c.recv(10 * time.Second); f.opcode != OpAuthSuccess {
			t.Fatalf("login: %s", f.opcode)
		}
	default:
		t.Fatalf("STARTUP: %s", f.opcode)
	}

	e.p.HoldResponses()
	const n = 5
	for i := int16(1); i <= n; i++ {
		c.send(i, OpQuery, queryBody("SELECT v FROM "+e.ks+".kv WHERE k = "+strconv.Itoa(int(i))))
		waitFor(t, "held response "+strconv.Itoa(int(i)), func() bool { return e.p.Stats().ResponsesHeld == int64(i) })
	}
	c.silent(300 * time.Millisecond)
	e.p.Pass()
	for i := int16(1); i <= n; i++ {
		f := c.recv(5 * time.Second)
		if f.stream != i || f.opcode != OpResult {
			t.Fatalf("release %d: %s on stream %d", i, f.opcode, f.stream)
		}
	}

	// A gocql query waits for the release.
	s := e.session(10 * time.Second)
	e.p.HoldResponses()
	done := make(chan error, 1)
	go func() {
		var v string
		err := s.Query("SELECT v FROM kv WHERE k = ?", 3).Scan(&v)
		if err == nil && v != "v3" {
			err = errors.New("read " + v)
		}
		done <- err
	}()
	waitFor(t, "the held gocql response", func() bool { return e.p.Stats().ResponsesHeld == n+1 })
	select {
	case err := <-done:
		t.Fatalf("the query finished while held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	e.p.Pass()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the query did not finish after Pass")
	}
}

// TestDBDelay slows every response by d.
func TestDBDelay(t *testing.T) {
	e := newDBEnv(t)
	s := e.session(5 * time.Second)
	e.exec(s, "INSERT INTO kv (k, v) VALUES (1, 'x')")
	const d = 300 * time.Millisecond
	e.p.Delay(d)
	start := time.Now()
	var v string
	if err := s.Query("SELECT v FROM kv WHERE k = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < d {
		t.Fatalf("answered in %s under Delay(%s)", el, d)
	}
	if st := e.p.Stats(); st.ResponsesDelayed == 0 {
		t.Fatalf("nothing delayed: %+v", st)
	}
}

// TestDBBlackhole partitions the client from the node: queries time out,
// new connections stay silent, and Pass heals: what waited flows.
func TestDBBlackhole(t *testing.T) {
	e := newDBEnv(t)
	s := e.session(time.Second)
	e.exec(s, "INSERT INTO kv (k, v) VALUES (1, 'x')")
	e.p.Blackhole()
	var v string
	if err := s.Query("SELECT v FROM kv WHERE k = 1").Scan(&v); !errors.Is(err, gocql.ErrTimeoutNoResponse) {
		t.Fatalf("under Blackhole: got %v, want gocql.ErrTimeoutNoResponse", err)
	}
	c := dialClient(t, e.p)
	c.send(0, OpOptions, nil)
	c.silent(300 * time.Millisecond)
	if st := e.p.Stats(); st.RequestsBlackholed < 2 {
		t.Fatalf("blackholed %d requests, want 2 or more", st.RequestsBlackholed)
	}

	// Healed: what waited flows, the session works again.
	e.p.Pass()
	if f := c.recv(5 * time.Second); f.opcode != OpSupported {
		t.Fatalf("after Pass: %s, want SUPPORTED", f.opcode)
	}
	waitFor(t, "a query to succeed after Pass", func() bool {
		return s.Query("SELECT v FROM kv WHERE k = 1").Scan(&v) == nil && v == "x"
	})
}

// TestDBRefuse cuts the connections; after Pass new sessions connect.
func TestDBRefuse(t *testing.T) {
	e := newDBEnv(t)
	s := e.session(time.Second)
	e.p.Refuse()
	if err := s.Query("SELECT v FROM kv WHERE k = 1").Exec(); err == nil {
		t.Fatal("a query succeeded under Refuse")
	}
	if st := e.p.Stats(); st.ConnectionsRefused < 2 { // the control connection and the pool's
		t.Fatalf("refused %d connections, want 2 or more", st.ConnectionsRefused)
	}
	e.p.Pass()
	s2 := e.session(5 * time.Second)
	e.exec(s2, "INSERT INTO kv (k, v) VALUES (1, 'x')")
}

// TestDBScyllaStateThroughProxy opens a store whose Hosts and Port are the
// proxy's and nothing else (no cluster hook, default protocol
// negotiation): every connection goes through the proxy, as Blackhole
// shows, and the protocol is v4 (the proxy would report v5).
func TestDBScyllaStateThroughProxy(t *testing.T) {
	e := newDBEnv(t)
	cfg := *e.cfg // a copy: cqltest drops the keyspace through the original
	cfg.Hosts = []string{e.p.Host()}
	cfg.Port = e.p.Port()
	st := cqltest.New(t, &cfg)

	ctx := context.Background()
	if _, err := st.Get(ctx, statetest.Cid(1)); err != state.ErrNotFound { //nolint:errorlint // as upstream
		t.Fatalf("Get: %v", err)
	}
	e.p.Blackhole()
	before := e.p.Stats().RequestsBlackholed
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := st.Get(ctx2, statetest.Cid(1)); err == nil || errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get under Blackhole: %v, want an error (a connection bypasses the proxy?)", err)
	}
	if e.p.Stats().RequestsBlackholed == before {
		t.Fatal("the Get did not reach the proxy")
	}
	e.p.Pass()
	waitFor(t, "Get to work after Pass", func() bool {
		_, err := st.Get(ctx, statetest.Cid(1))
		return err == state.ErrNotFound //nolint:errorlint // as upstream
	})
}
