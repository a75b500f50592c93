package cqlproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds the connection to the target that the proxy opens
// for each client connection.
const dialTimeout = 10 * time.Second

// maxErrors bounds the errors that Err keeps.
const maxErrors = 32

// Proxy is a TCP proxy between CQL clients and one CQL node, which injects
// faults on whole frames (see Mode). Its methods are safe for concurrent
// use. Close it when done.
type Proxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // cancelled by Close: ends pending dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection

	state atomic.Pointer[modeState]
	stats counters

	mu     sync.Mutex // guards conns and closed, orders Refuse with accepts
	conns  map[*conn]struct{}
	closed bool
	nextID uint64

	prepMu   sync.RWMutex
	prepared map[string]string // prepared statement ID -> CQL text

	errMu   sync.Mutex
	errs    []error
	errLost int

	logger atomic.Pointer[func(format string, args ...any)]
}

// New starts a proxy listening on 127.0.0.1 on a free port, forwarding to
// target ("host:port", the native CQL port of one node) in mode Pass.
// Connections to the target are opened for each client connection.
func New(target string) (*Proxy, error) {
	return Listen("127.0.0.1:0", target)
}

// Listen is New listening on listenAddr ("ip:port", port 0 for a free
// one), e.g. on another loopback address.
func Listen(listenAddr, target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("cqlproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("cqlproxy: listening on %s: %w", listenAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target:   target,
		ln:       ln,
		ctx:      ctx,
		cancel:   cancel,
		conns:    make(map[*conn]struct{}),
		prepared: make(map[string]string),
	}
	p.state.Store(&modeState{mode: ModePass, changed: make(chan struct{})})
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the address clients connect to, "host:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Host returns the IP the proxy listens on.
func (p *Proxy) Host() string {
	return p.ln.Addr().(*net.TCPAddr).IP.String()
}

// Port returns the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Target returns the address of the node behind the proxy.
func (p *Proxy) Target() string { return p.target }

// SetLogf sets a function that logs the proxy's mode changes and errors,
// such as testing.T.Logf (nil: no logs). Close the proxy before the test
// ends: nothing is logged after Close returns.
func (p *Proxy) SetLogf(f func(format string, args ...any)) {
	if f == nil {
		p.logger.Store(nil)
		return
	}
	p.logger.Store(&f)
}

func (p *Proxy) logf(format string, args ...any) {
	if p.ctx.Err() != nil {
		return // closed: the test may have ended
	}
	if f := p.logger.Load(); f != nil {
		(*f)(format, args...)
	}
}

// Err returns the protocol errors the proxy met (nil if none): a client
// or server that speaks a protocol the proxy cannot parse (CQL v5, TLS),
// or a malformed frame. They wrap ErrUnsupportedProtocol or
// ErrMalformedFrame. Connections closed by either side are not errors.
// A test should check that Err is nil: a fault it meant to inject may not
// have been.
func (p *Proxy) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	errs := append([]error(nil), p.errs...)
	if p.errLost > 0 {
		errs = append(errs, fmt.Errorf("cqlproxy: %d more errors not kept", p.errLost))
	}
	return errors.Join(errs...)
}

func (p *Proxy) recordErr(err error) {
	p.errMu.Lock()
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, err)
	} else {
		p.errLost++
	}
	p.errMu.Unlock()
	p.logf("cqlproxy %s: %v", p.Addr(), err)
}

// Close stops the listener and closes every connection. When it returns,
// every goroutine of the proxy has returned. Closing twice is harmless.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("cqlproxy: closing the listener: %w", err)
	}
	return nil
}

// acceptLoop accepts client connections until Close, each served by a
// goroutine that p.wg owns.
func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			p.logf("cqlproxy %s: accept: %v", p.Addr(), err)
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.stats.connectionsAccepted.Add(1)
		p.mu.Lock()
		if p.closed || p.state.Load().mode == ModeRefuse {
			if !p.closed {
				p.stats.connectionsRefused.Add(1) // before the client can see the close
			}
			p.mu.Unlock()
			_ = nc.Close()
			continue
		}
		p.nextID++
		c := newConn(p, p.nextID, nc)
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// forget removes a finished connection.
func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// dial connects to the target; Close cancels it.
func (p *Proxy) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return nil, fmt.Errorf("cqlproxy: connecting to %s: %w", p.target, err)
	}
	return nc, nil
}

// learn records the CQL text of a prepared statement ID.
func (p *Proxy) learn(id []byte, text string) {
	p.prepMu.Lock()
	p.prepared[string(id)] = text
	p.prepMu.Unlock()
}

// lookup returns the CQL text of a prepared statement ID, "" if unknown.
func (p *Proxy) lookup(id []byte) string {
	p.prepMu.RLock()
	defer p.prepMu.RUnlock()
	return p.prepared[string(id)]
}

// String describes the proxy.
func (p *Proxy) String() string {
	return "cqlproxy " + p.Addr() + " -> " + p.target + " (" + p.Mode().String() + ")"
}
