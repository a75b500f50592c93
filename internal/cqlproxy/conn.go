package cqlproxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// bufSize is the read buffer of each direction of a connection.
const bufSize = 64 << 10

// conn is one client connection and its connection to the target. Three
// goroutines serve it, all owned by run: upstream (client to server),
// downstream (server to client) and writer (held and delayed responses).
type conn struct {
	p      *Proxy
	id     uint64
	client net.Conn
	server net.Conn // set by run before the goroutines start

	done      chan struct{} // closed by close
	closeOnce sync.Once

	mu      sync.Mutex
	pending map[int16]*Request // requests awaiting their response, by stream
	queue   []*queued          // responses waiting under Hold or Delay, in arrival order
	wake    chan struct{}      // capacity 1: the queue grew

	wmu sync.Mutex // one frame at a time to the client
}

// queued is a response waiting for the writer.
type queued struct {
	f       *frame
	req     *Request
	arrived time.Time
	held    bool // counted in ResponsesHeld
	delayed bool // counted in ResponsesDelayed
}

func newConn(p *Proxy, id uint64, client net.Conn) *conn {
	return &conn{
		p:       p,
		id:      id,
		client:  client,
		done:    make(chan struct{}),
		pending: make(map[int16]*Request),
		wake:    make(chan struct{}, 1),
	}
}

// isClosed tells whether close was called.
func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// close closes both sockets, which ends the connection's goroutines.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		server := c.server
		c.mu.Unlock()
		_ = c.client.Close()
		if server != nil {
			_ = server.Close()
		}
	})
}

// run connects to the target and serves the connection until either side
// closes it, Refuse or Close. p.wg owns it; it owns the goroutines it
// starts.
func (c *conn) run() {
	defer c.p.wg.Done()
	defer c.p.forget(c)
	defer c.close()

	server, err := c.p.dial()
	if err != nil {
		if c.p.ctx.Err() == nil {
			c.p.logf("cqlproxy %s: connection %d: %v", c.p.Addr(), c.id, err)
		}
		return
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		_ = server.Close()
		return
	default:
	}
	c.server = server
	c.mu.Unlock()

	var wg sync.WaitGroup
	for _, serve := range []func(){c.upstream, c.downstream, c.writer} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			serve()
		}()
	}
	wg.Wait()
}

// protocolError records err if it is a protocol error (the peer speaks
// something the proxy cannot parse). Other read errors (EOF, reset, a
// socket closed by Close or Refuse) only end the connection.
func (c *conn) protocolError(dir string, err error) {
	if !errors.Is(err, ErrUnsupportedProtocol) && !errors.Is(err, ErrMalformedFrame) {
		return // EOF, reset, closed: the connection ended
	}
	c.p.recordErr(fmt.Errorf("connection %d, %s: %w", c.id, dir, err))
}

// upstream forwards the client's frames to the server, remembering each
// request by stream until its response. Under Blackhole it stops, so the
// client's next frames wait in the socket buffers.
func (c *conn) upstream() {
	r := bufio.NewReaderSize(c.client, bufSize)
	for {
		f, err := readFrame(r)
		if err != nil {
			if f != nil && errors.Is(err, ErrUnsupportedProtocol) {
				c.refuseVersion(f)
				err = fmt.Errorf("%w; answered with a protocol error and closed (v5 frames are wrapped in checksummed segments): set gocql ClusterConfig.ProtoVersion = 4", err)
			}
			c.protocolError("client to server", err)
			return
		}
		if f.response() {
			c.protocolError("client to server", fmt.Errorf("%w: the client sent a response frame (%s)", ErrMalformedFrame, f.opcode))
			return
		}
		if !c.waitBlackhole(&c.p.stats.requestsBlackholed) {
			return
		}
		req, err := parseRequest(f, c.p.lookup)
		if err != nil {
			c.protocolError("client to server", err) // forwarded all the same: the server will reject it
		}
		c.mu.Lock()
		c.pending[f.stream] = &req
		c.mu.Unlock()
		c.p.stats.requestsForwarded.Add(1) // before the response can overtake the count
		if _, err := c.server.Write(f.raw); err != nil {
			return
		}
	}
}

// refuseVersion answers a frame of protocol v5 or later the way a node
// that supports v3 and v4 only does, with a protocol error that names the
// versions (drivers that negotiate then retry with v4; gocql reads the
// greatest version from the message's end). The caller then closes the
// connection and records the error.
func (c *conn) refuseVersion(f *frame) {
	v := f.protoVersion()
	msg := fmt.Sprintf("Invalid or unsupported protocol version (%d); cqlproxy cannot parse CQL native protocol v%d "+
		"(set gocql ClusterConfig.ProtoVersion = 4): the lowest supported version is %d and the greatest is %d",
		v, v, minVersion, maxVersion)
	const protocolErrorCode = 0x000A
	raw := encodeFrame(responseBit|v, 0, f.stream, OpError, errorBody(protocolErrorCode, msg))
	c.wmu.Lock()
	_ = c.client.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.client.Write(raw)
	c.wmu.Unlock()
}

// downstream reads the server's frames, learns prepared statement IDs,
// and forwards, drops or queues each frame according to the mode.
func (c *conn) downstream() {
	r := bufio.NewReaderSize(c.server, bufSize)
	for {
		f, err := readFrame(r)
		if err != nil {
			c.protocolError("server to client", err)
			return
		}
		if !f.response() {
			c.protocolError("server to client", fmt.Errorf("%w: the server sent a request frame (%s)", ErrMalformedFrame, f.opcode))
			return
		}
		var req *Request
		if f.stream >= 0 { // negative streams: events, which answer no request
			c.mu.Lock()
			req = c.pending[f.stream]
			delete(c.pending, f.stream)
			c.mu.Unlock()
		}
		if req != nil && req.Opcode == OpPrepare && len(req.Statements) == 1 {
			id, ok, err := preparedID(f)
			if err != nil {
				c.protocolError("server to client", err)
			} else if ok {
				c.p.learn(id, req.Statements[0])
			}
		}
		if !c.dispatch(f, req) {
			return
		}
	}
}

// waitBlackhole waits while the mode is Blackhole, counting the frame in
// hand once in counter. It returns false when the connection is closed.
func (c *conn) waitBlackhole(counter *atomic.Int64) bool {
	counted := false
	for {
		st := c.p.state.Load()
		if st.mode != ModeBlackhole {
			return true
		}
		if !counted {
			counted = true
			counter.Add(1)
		}
		select {
		case <-st.changed:
		case <-c.done:
			return false
		}
	}
}

// dispatch handles a server frame as it arrives: under Blackhole it
// waits (and the server's next frames wait in the socket buffers), under
// DropResponses it is discarded if selected, under Hold and Delay queued
// for the writer if selected; otherwise it is written at once. It
// returns false when the connection is closed.
func (c *conn) dispatch(f *frame, req *Request) bool {
	if !c.waitBlackhole(&c.p.stats.responsesBlackholed) {
		return false
	}
	st := c.p.state.Load()
	switch {
	case st.mode == ModeBlackhole: // set again since: the writer waits
	case st.mode == ModeRefuse:
		return false // closed by Refuse
	case !st.affects(req):
		return c.write(f)
	case st.mode == ModeDropResponses:
		c.p.stats.responsesDropped.Add(1)
		return true
	}
	q := &queued{f: f, req: req, arrived: time.Now()}
	c.count(q, st.mode) // now, not when the writer gets to it behind others
	c.mu.Lock()
	c.queue = append(c.queue, q)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// write sends a frame to the client. It returns false when the
// connection is closed.
func (c *conn) write(f *frame) bool {
	c.p.stats.responsesForwarded.Add(1) // before the client can see the frame
	c.wmu.Lock()
	_, err := c.client.Write(f.raw)
	c.wmu.Unlock()
	return err == nil
}

// count counts a queued response as held or delayed, once each. Only
// the goroutine that owns q (dispatch before queueing it, then the
// writer) calls it.
func (c *conn) count(q *queued, m Mode) {
	switch {
	case m == ModeHoldResponses && !q.held:
		q.held = true
		c.p.stats.responsesHeld.Add(1)
	case m == ModeDelay && !q.delayed:
		q.delayed = true
		c.p.stats.responsesDelayed.Add(1)
	}
}

// writer handles the queued responses one at a time, in arrival order,
// until the connection closes.
func (c *conn) writer() {
	for {
		c.mu.Lock()
		var q *queued
		if len(c.queue) > 0 {
			q = c.queue[0]
		}
		c.mu.Unlock()
		if q == nil {
			select {
			case <-c.wake:
				continue
			case <-c.done:
				return
			}
		}
		if !c.release(q) {
			return
		}
		c.mu.Lock()
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
	}
}

// release waits until the mode lets the queued response go (Hold,
// Delay, Blackhole), then writes or drops it; a mode change re-decides. It returns false when the
// connection is closed.
func (c *conn) release(q *queued) bool {
	for {
		st := c.p.state.Load()
		switch {
		case st.mode == ModeRefuse:
			return false // closed by Refuse
		case st.mode == ModeBlackhole:
			select {
			case <-st.changed:
				continue
			case <-c.done:
				return false
			}
		case !st.affects(q.req):
			return c.write(q.f)
		case st.mode == ModeDropResponses:
			c.p.stats.responsesDropped.Add(1)
			return true
		case st.mode == ModeHoldResponses:
			c.count(q, st.mode)
			select {
			case <-st.changed:
				continue
			case <-c.done:
				return false
			}
		case st.mode == ModeDelay:
			c.count(q, st.mode)
			wait := time.Until(q.arrived.Add(st.delay))
			if wait <= 0 {
				return c.write(q.f)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				return c.write(q.f)
			case <-st.changed:
				t.Stop()
				continue
			case <-c.done:
				t.Stop()
				return false
			}
		default:
			return c.write(q.f)
		}
	}
}
