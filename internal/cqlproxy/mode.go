package cqlproxy

import (
	"fmt"
	"time"
)

// Mode is the fault the proxy injects. A mode applies to every connection,
// open or new, from the moment it is set.
type Mode int

// Modes. See the Proxy methods of the same names.
const (
	// ModePass forwards everything.
	ModePass Mode = iota
	// ModeDropResponses forwards the requests and drops the selected
	// responses.
	ModeDropResponses
	// ModeHoldResponses forwards the requests and holds the selected
	// responses until the mode changes.
	ModeHoldResponses
	// ModeDelay forwards the requests and delays the selected responses.
	ModeDelay
	// ModeBlackhole forwards nothing either way until the mode changes.
	ModeBlackhole
	// ModeRefuse closes every connection.
	ModeRefuse
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModePass:
		return "Pass"
	case ModeDropResponses:
		return "DropResponses"
	case ModeHoldResponses:
		return "HoldResponses"
	case ModeDelay:
		return "Delay"
	case ModeBlackhole:
		return "Blackhole"
	case ModeRefuse:
		return "Refuse"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// modeState is one setting of the mode. It is immutable once published;
// changed is closed when the next setting replaces it, which wakes the
// responses waiting under Hold or Delay.
type modeState struct {
	mode    Mode
	delay   time.Duration
	filter  func(Request) bool
	changed chan struct{}
}

// affects tells whether the response to req is subject to the mode's
// fault (Drop, Hold or Delay). Responses to connection set-up requests
// and frames that answer no request (events) never are.
func (s *modeState) affects(req *Request) bool {
	switch s.mode {
	case ModeDropResponses, ModeHoldResponses, ModeDelay:
	default:
		return false
	}
	if req == nil || !req.isStatementRequest() {
		return false
	}
	if s.filter == nil {
		return Executions(*req)
	}
	return s.filter(*req)
}

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return p.state.Load().mode }

// Pass forwards everything (the initial mode). Responses held by
// HoldResponses or waiting under Delay are released at once, in the
// order in which the server sent them on each connection.
func (p *Proxy) Pass() { p.setMode(ModePass, 0, nil) }

// DropResponses forwards every request to the server, so that writes are
// applied, and drops the responses to executions (QUERY, EXECUTE,
// BATCH), so that the client times out: an ambiguous write. Responses to
// PREPARE and to connection set-up (STARTUP, OPTIONS, AUTH_RESPONSE,
// REGISTER, hence the driver's heartbeats) and events are forwarded, so
// connections stay up and new ones can be opened. Responses held by
// HoldResponses are dropped too. gocql's "USE keyspace" on a new
// connection counts as set-up.
func (p *Proxy) DropResponses() { p.setMode(ModeDropResponses, 0, nil) }

// DropResponsesWhere is DropResponses for the responses to the requests
// that f selects. f sees the requests QUERY, PREPARE, EXECUTE and BATCH
// (see StatementContains); nil means Executions. f is called from the
// proxy's goroutines and must be safe for concurrent use.
func (p *Proxy) DropResponsesWhere(f func(Request) bool) { p.setMode(ModeDropResponses, 0, f) }

// HoldResponses forwards every request and holds the responses to
// executions (see DropResponses for the others, which pass): a paused
// coordinator. When the mode changes, the held responses are handled by
// the new mode in the order in which the server sent them on each
// connection: Pass releases them, DropResponses drops them, Delay delays
// them (counting from their arrival), Blackhole keeps them waiting,
// Refuse loses them with the connection.
func (p *Proxy) HoldResponses() { p.setMode(ModeHoldResponses, 0, nil) }

// HoldResponsesWhere is HoldResponses for the responses to the requests
// that f selects (see DropResponsesWhere). Responses that f does not
// select pass, possibly ahead of held ones.
func (p *Proxy) HoldResponsesWhere(f func(Request) bool) { p.setMode(ModeHoldResponses, 0, f) }

// Delay forwards every request and delays each response to an execution
// by d from its arrival at the proxy, keeping their order on each
// connection: a slow coordinator or replica. Other responses pass (see
// DropResponses).
func (p *Proxy) Delay(d time.Duration) { p.setMode(ModeDelay, d, nil) }

// DelayWhere is Delay for the responses to the requests that f selects
// (see DropResponsesWhere).
func (p *Proxy) DelayWhere(d time.Duration, f func(Request) bool) { p.setMode(ModeDelay, d, f) }

// Blackhole forwards nothing, either way, on every connection: a network
// partition. New connections are accepted and then stay silent. As TCP
// does in a real partition, nothing is lost: each direction of each
// connection stops at a frame boundary, the frame in hand waits at the
// proxy and the next ones in the socket buffers, and when the mode
// changes they flow again, in order, under the new mode. So requests sent
// during the partition reach the server after it heals, possibly after
// their client timed out (more ambiguous writes). To lose them instead,
// as when a long partition kills the connections, set Refuse before Pass.
func (p *Proxy) Blackhole() { p.setMode(ModeBlackhole, 0, nil) }

// Refuse closes every open connection, losing what Blackhole, Hold or
// Delay kept waiting, and closes new ones as soon as they are accepted: a
// node that is down.
func (p *Proxy) Refuse() { p.setMode(ModeRefuse, 0, nil) }

// setMode publishes a new mode and wakes the responses waiting under the
// previous one. Refuse cuts the open connections while holding p.mu, so
// that no connection accepted concurrently survives it.
func (p *Proxy) setMode(m Mode, d time.Duration, f func(Request) bool) {
	st := &modeState{mode: m, delay: d, filter: f, changed: make(chan struct{})}
	p.mu.Lock()
	old := p.state.Swap(st)
	if m == ModeRefuse {
		for c := range p.conns {
			if !c.isClosed() {
				p.stats.connectionsRefused.Add(1) // before the client can see the close
				c.close()
			}
		}
	}
	p.mu.Unlock()
	close(old.changed)
	p.logf("cqlproxy %s: mode %s", p.Addr(), m)
}
