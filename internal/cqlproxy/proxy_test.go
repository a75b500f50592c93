package cqlproxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a CQL v4 node that answers each request at once, in
// order: READY to STARTUP and REGISTER, SUPPORTED to OPTIONS, a Prepared
// result (ID "id:" + text) to PREPARE, a Void result to the rest. It
// records the requests it received.
type fakeServer struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
	got   []Request
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, conns: make(map[net.Conn]bool)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *fakeServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		f, err := readFrame(r)
		if err != nil {
			return
		}
		req, _ := parseRequest(f, func(id []byte) string { return strings.TrimPrefix(string(id), "id:") })
		s.mu.Lock()
		s.got = append(s.got, req)
		s.mu.Unlock()
		var op Opcode
		var body []byte
		switch f.opcode {
		case OpStartup, OpRegister:
			op = OpReady
		case OpOptions:
			op, body = OpSupported, appendShort(nil, 0)
		case OpPrepare:
			op, body = OpResult, preparedResultBody([]byte("id:"+req.Statements[0]))
		default:
			op, body = OpResult, appendInt(nil, 1) // Void
		}
		if _, err := c.Write(encodeFrame(0x84, 0, f.stream, op, body)); err != nil {
			return
		}
	}
}

// event sends a STATUS_CHANGE event (stream -1) on every connection.
func (s *fakeServer) event() {
	body := appendString(appendString(nil, "STATUS_CHANGE"), "UP")
	body = append(body, 4, 127, 0, 0, 1)
	body = appendInt(body, 9042)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_, _ = c.Write(encodeFrame(0x84, 0, -1, OpEvent, body))
	}
}

// received returns the requests of the given opcode the server got.
func (s *fakeServer) received(op Opcode) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.got {
		if r.Opcode == op {
			out = append(out, r)
		}
	}
	return out
}

func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// newTestProxy starts a proxy to a fake server; the proxy is closed, and
// its Err checked, when the test ends.
func newTestProxy(t *testing.T) (*Proxy, *fakeServer) {
	t.Helper()
	s := newFakeServer(t)
	return startProxy(t, s.addr()), s
}

// startProxy starts a proxy to target, logging to t; it is closed, and
// its Err checked, when the test ends.
func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	p.SetLogf(t.Logf)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if err := p.Err(); err != nil {
			t.Errorf("proxy errors: %v", err)
		}
	})
	return p
}

// client is a raw CQL connection through the proxy.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialClient(t *testing.T, p *Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(stream int16, op Opcode, body []byte) {
	c.t.Helper()
	if _, err := c.c.Write(encodeFrame(0x04, 0, stream, op, body)); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads a frame, failing the test after d.
func (c *client) recv(d time.Duration) *frame {
	c.t.Helper()
	f, err := c.tryRecv(d)
	if err != nil {
		c.t.Fatalf("no frame within %s: %v", d, err)
	}
	return f
}

func (c *client) tryRecv(d time.Duration) (*frame, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	return readFrame(c.r)
}

// silent checks that nothing arrives for d.
func (c *client) silent(d time.Duration) {
	c.t.Helper()
	f, err := c.tryRecv(d)
	if err == nil {
		c.t.Fatalf("got %s on stream %d, want nothing", f.opcode, f.stream)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want a read timeout, got %v", err)
	}
	// A timed-out read may have consumed part of a frame; the tests
	// only call silent when nothing should be in flight.
}

func (c *client) startup() {
	c.t.Helper()
	c.send(0, OpStartup, startupBody())
	if f := c.recv(2 * time.Second); f.opcode != OpReady {
		c.t.Fatalf("STARTUP: got %s", f.opcode)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPassForwards(t *testing.T) {
	p, _ := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	c.send(1, OpQuery, queryBody("SELECT 1"))
	if f := c.recv(2 * time.Second); f.opcode != OpResult || f.stream != 1 {
		t.Fatalf("got %s on stream %d", f.opcode, f.stream)
	}
	st := p.Stats()
	if st.ConnectionsAccepted != 1 || st.RequestsForwarded != 2 || st.ResponsesForwarded != 2 {
		t.Fatalf("stats %+v", st)
	}
	if p.Mode() != ModePass {
		t.Fatalf("mode %s", p.Mode())
	}
}

func TestDropResponsesWhereStatement(t *testing.T) {
	p, s := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	const insert = "INSERT INTO ks.pin_events (a) VALUES (?)"
	p.DropResponsesWhere(StatementContains("insert", "pin_events"))

	// PREPARE passes, so the statement can be executed.
	c.send(1, OpPrepare, appendLongString(nil, insert))
	f := c.recv(2 * time.Second)
	id, ok, err := preparedID(f)
	if err != nil || !ok {
		t.Fatalf("PREPARE: %s, %v", f.opcode, err)
	}
	// Its execution reaches the server, but its response is dropped.
	c.send(2, OpExecute, executeBody(id, []byte("x")))
	c.send(3, OpBatch, batchBody(batchEntry{id: id}))
	// Other statements pass.
	c.send(4, OpQuery, queryBody("SELECT * FROM ks.pin_events"))
	if f := c.recv(2 * time.Second); f.stream != 4 {
		t.Fatalf("got stream %d, want the SELECT's (4)", f.stream)
	}
	c.send(5, OpQuery, queryBody("INSERT INTO ks.pins (c) VALUES (1)"))
	if f := c.recv(2 * time.Second); f.stream != 5 {
		t.Fatalf("got stream %d, want the other INSERT's (5)", f.stream)
	}
	c.silent(100 * time.Millisecond)
	if got := s.received(OpExecute); len(got) != 1 || got[0].Statements[0] != insert {
		t.Fatalf("server got EXECUTE %v", got)
	}
	if got := s.received(OpBatch); len(got) != 1 {
		t.Fatalf("server got BATCH %v", got)
	}
	if st := p.Stats(); st.ResponsesDropped != 2 {
		t.Fatalf("dropped %d, want 2", st.ResponsesDropped)
	}
	// Heartbeats and events pass.
	c.send(6, OpOptions, nil)
	if f := c.recv(2 * time.Second); f.opcode != OpSupported {
		t.Fatalf("OPTIONS: got %s", f.opcode)
	}
	s.event()
	if f := c.recv(2 * time.Second); f.opcode != OpEvent || f.stream != -1 {
		t.Fatalf("event: got %s on %d", f.opcode, f.stream)
	}
}

func TestDropResponsesDefaultSparesPrepare(t *testing.T) {
	p, _ := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.DropResponses()
	c.send(1, OpPrepare, appendLongString(nil, "SELECT 1"))
	if f := c.recv(2 * time.Second); f.opcode != OpResult {
		t.Fatalf("PREPARE: got %s", f.opcode)
	}
	c.send(2, OpQuery, queryBody("SELECT 1"))
	c.silent(100 * time.Millisecond)
	// Everything, PREPARE included, with an explicit filter.
	p.DropResponsesWhere(func(Request) bool { return true })
	c.send(3, OpPrepare, appendLongString(nil, "SELECT 2"))
	c.silent(100 * time.Millisecond)
	if st := p.Stats(); st.ResponsesDropped != 2 {
		t.Fatalf("dropped %d, want 2", st.ResponsesDropped)
	}
}

func TestHoldResponsesReleasesInOrder(t *testing.T) {
	p, s := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.HoldResponses()
	const n = 5
	for i := int16(1); i <= n; i++ {
		c.send(i, OpQuery, queryBody("SELECT 1"))
	}
	waitFor(t, "the held responses", func() bool { return p.Stats().ResponsesHeld == n })
	// Set-up responses and events pass a held connection.
	c.send(n+1, OpOptions, nil)
	if f := c.recv(2 * time.Second); f.stream != n+1 {
		t.Fatalf("got stream %d, want the OPTIONS (%d)", f.stream, n+1)
	}
	s.event()
	if f := c.recv(2 * time.Second); f.opcode != OpEvent {
		t.Fatalf("got %s, want the event", f.opcode)
	}
	c.silent(100 * time.Millisecond)
	p.Pass()
	for i := int16(1); i <= n; i++ {
		if f := c.recv(2 * time.Second); f.stream != i {
			t.Fatalf("release %d: got stream %d", i, f.stream)
		}
	}
	if st := p.Stats(); st.ResponsesHeld != n || st.ResponsesDropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHoldThenDropDiscardsHeld(t *testing.T) {
	p, _ := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.HoldResponses()
	c.send(1, OpQuery, queryBody("SELECT 1"))
	waitFor(t, "the held response", func() bool { return p.Stats().ResponsesHeld == 1 })
	p.DropResponses()
	waitFor(t, "the dropped response", func() bool { return p.Stats().ResponsesDropped == 1 })
	p.Pass()
	c.send(2, OpQuery, queryBody("SELECT 1"))
	if f := c.recv(2 * time.Second); f.stream != 2 {
		t.Fatalf("got stream %d, want 2", f.stream)
	}
}

func TestDelayKeepsOrder(t *testing.T) {
	p, _ := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	const d = 150 * time.Millisecond
	p.Delay(d)
	start := time.Now()
	for i := int16(1); i <= 3; i++ {
		c.send(i, OpQuery, queryBody("SELECT 1"))
	}
	for i := int16(1); i <= 3; i++ {
		if f := c.recv(2 * time.Second); f.stream != i {
			t.Fatalf("got stream %d, want %d", f.stream, i)
		}
	}
	if el := time.Since(start); el < d {
		t.Fatalf("responses after %s, want at least %s", el, d)
	}
	if st := p.Stats(); st.ResponsesDelayed != 3 {
		t.Fatalf("delayed %d, want 3", st.ResponsesDelayed)
	}
	// Only the selected statements wait.
	p.DelayWhere(time.Hour, StatementContains("pin_events"))
	c.send(4, OpQuery, queryBody("SELECT * FROM ks.pin_events"))
	c.send(5, OpQuery, queryBody("SELECT * FROM ks.pins"))
	if f := c.recv(2 * time.Second); f.stream != 5 {
		t.Fatalf("got stream %d, want 5", f.stream)
	}
	p.Pass() // releases the hour-long delay at once
	if f := c.recv(2 * time.Second); f.stream != 4 {
		t.Fatalf("got stream %d, want 4", f.stream)
	}
}

func TestBlackhole(t *testing.T) {
	p, s := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.Blackhole()
	c.send(1, OpQuery, queryBody("SELECT 1"))
	c.send(2, OpQuery, queryBody("SELECT 2"))
	s.event()
	c.silent(100 * time.Millisecond)
	// New connections are accepted, then silent.
	c2 := dialClient(t, p)
	c2.send(0, OpOptions, nil)
	c2.silent(100 * time.Millisecond)
	// One frame per connection and direction waits at the proxy, the
	// rest in the socket buffers.
	waitFor(t, "stopped frames", func() bool {
		st := p.Stats()
		return st.RequestsBlackholed == 2 && st.ResponsesBlackholed == 1
	})
	if got := s.received(OpQuery); len(got) != 0 {
		t.Fatalf("server got %v", got)
	}
	// Healed: everything flows, in order.
	p.Pass()
	if f := c.recv(2 * time.Second); f.opcode != OpEvent {
		t.Fatalf("after Pass: got %s, want the event", f.opcode)
	}
	for i := int16(1); i <= 2; i++ {
		if f := c.recv(2 * time.Second); f.stream != i {
			t.Fatalf("after Pass: got stream %d, want %d", f.stream, i)
		}
	}
	if f := c2.recv(2 * time.Second); f.opcode != OpSupported {
		t.Fatalf("new connection after Pass: got %s", f.opcode)
	}
}

func TestBlackholeKeepsHeldResponses(t *testing.T) {
	p, _ := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.HoldResponses()
	c.send(1, OpQuery, queryBody("SELECT 1"))
	waitFor(t, "the held response", func() bool { return p.Stats().ResponsesHeld == 1 })
	p.Blackhole()
	c.silent(100 * time.Millisecond)
	p.Pass()
	if f := c.recv(2 * time.Second); f.stream != 1 {
		t.Fatalf("got stream %d, want 1", f.stream)
	}
}

func TestBlackholeThenRefuseLoses(t *testing.T) {
	p, s := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.Blackhole()
	c.send(1, OpQuery, queryBody("SELECT 1"))
	waitFor(t, "the stopped request", func() bool { return p.Stats().RequestsBlackholed == 1 })
	p.Refuse()
	p.Pass()
	if _, err := c.tryRecv(2 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("got %v, want the connection closed", err)
	}
	if got := s.received(OpQuery); len(got) != 0 {
		t.Fatalf("server got %v", got)
	}
}

func TestRefuse(t *testing.T) {
	p, _ := newTestProxy(t)
	c := dialClient(t, p)
	c.startup()
	p.Refuse()
	if _, err := c.tryRecv(2 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("open connection: got %v, want it closed", err)
	}
	c2 := dialClient(t, p)
	if _, err := c2.tryRecv(2 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("new connection: got %v, want it closed", err)
	}
	if st := p.Stats(); st.ConnectionsRefused != 2 {
		t.Fatalf("refused %d, want 2", st.ConnectionsRefused)
	}
	p.Pass()
	c3 := dialClient(t, p)
	c3.startup()
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func TestV5IsRefusedLoudly(t *testing.T) {
	s := newFakeServer(t)
	p, err := New(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dialClient(t, p)
	if _, err := c.c.Write(encodeFrame(0x05, 0, 0, OpOptions, nil)); err != nil {
		t.Fatal(err)
	}
	var hb [headerLen]byte
	_ = c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c.r, hb[:]); err != nil {
		t.Fatal(err)
	}
	if hb[0] != 0x85 || Opcode(hb[4]) != OpError {
		t.Fatalf("header %x", hb)
	}
	body := make([]byte, binary.BigEndian.Uint32(hb[5:]))
	if _, err := io.ReadFull(c.r, body); err != nil {
		t.Fatal(err)
	}
	r := &reader{b: body}
	code, msg := r.int("code"), r.string("message")
	if code != 0x000A || !strings.Contains(msg, "ProtoVersion = 4") || !strings.HasSuffix(msg, "the greatest is 4") {
		t.Fatalf("error 0x%x %q", code, msg)
	}
	if _, err := c.tryRecv(2 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("want the connection closed, got %v", err)
	}
	if err := p.Err(); !errors.Is(err, ErrUnsupportedProtocol) || !strings.Contains(err.Error(), "v5") {
		t.Fatalf("Err: %v", err)
	}
}

func TestTLSIsReported(t *testing.T) {
	s := newFakeServer(t)
	p, err := New(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dialClient(t, p)
	if _, err := c.c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x10, 0x01, 0x00, 0x00, 0x0c}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tryRecv(2 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("want the connection closed, got %v", err)
	}
	if err := p.Err(); !errors.Is(err, ErrUnsupportedProtocol) {
		t.Fatalf("Err: %v", err)
	}
}

// TestCloseEndsEverything closes a proxy with connections in every state
// (held responses, a blocked dial is not reproducible here) and checks
// that no goroutine of the proxy is left when Close returns.
func TestCloseEndsEverything(t *testing.T) {
	s := newFakeServer(t)
	p, err := New(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	var clients []*client
	for i := 0; i < 3; i++ {
		c := dialClient(t, p)
		c.startup()
		clients = append(clients, c)
	}
	p.HoldResponses()
	for _, c := range clients {
		c.send(1, OpQuery, queryBody("SELECT 1"))
	}
	waitFor(t, "held responses", func() bool { return p.Stats().ResponsesHeld == 3 })
	p.Delay(time.Hour)
	idle := dialClient(t, p) // accepted, no frame yet
	waitFor(t, "the idle connection", func() bool { return p.Stats().ConnectionsAccepted == 4 })

	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if leaked := lingeringGoroutines(); leaked != "" {
		t.Fatalf("goroutines left after Close:\n%s", leaked)
	}
	if _, err := idle.tryRecv(2 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("client: got %v, want the connection closed", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("the listener still accepts")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
}

// proxyGoroutines returns the stacks of the goroutines running code of
// the proxy (not of its tests).
func proxyGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "cqlproxy.(*Proxy)") || strings.Contains(g, "cqlproxy.(*conn)") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// lingeringGoroutines is proxyGoroutines once those that are only
// returning have had a moment to: a goroutine that has signalled its
// owner (wg.Done) may still be on its way out when Close returns.
func lingeringGoroutines() string {
	leaked := proxyGoroutines()
	for deadline := time.Now().Add(2 * time.Second); leaked != "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		leaked = proxyGoroutines()
	}
	return leaked
}

func TestMain(m *testing.M) {
	code := m.Run()
	if leaked := lingeringGoroutines(); leaked != "" {
		println("cqlproxy goroutines left after the tests:\n" + leaked)
		code = 1
	}
	os.Exit(code)
}
