package cqlproxy

import "sync/atomic"

// Stats counts what the proxy did, so that a test can check that a fault
// was actually injected. Frames are counted whole, and before the peer
// can see the effect (a frame forwarded is counted before it is written,
// so the count may include one whose connection failed meanwhile).
type Stats struct {
	// ConnectionsAccepted counts the client connections accepted.
	ConnectionsAccepted int64
	// ConnectionsRefused counts the connections closed by Refuse: new
	// ones closed at once and open ones cut.
	ConnectionsRefused int64
	// RequestsForwarded counts the client frames sent to the server.
	RequestsForwarded int64
	// RequestsBlackholed counts the client frames that Blackhole stopped
	// at the proxy: at most one per connection at a time, the next ones
	// wait uncounted in the socket buffers.
	RequestsBlackholed int64
	// ResponsesForwarded counts the server frames sent to the client
	// (events included), at once or after a hold or delay.
	ResponsesForwarded int64
	// ResponsesDropped counts the responses discarded by DropResponses.
	ResponsesDropped int64
	// ResponsesHeld counts the responses that HoldResponses held (each
	// once, whatever happened to it next).
	ResponsesHeld int64
	// ResponsesDelayed counts the responses that Delay delayed.
	ResponsesDelayed int64
	// ResponsesBlackholed counts the server frames that Blackhole
	// stopped at the proxy as they arrived (as RequestsBlackholed).
	ResponsesBlackholed int64
}

// counters are the atomic counterparts of Stats.
type counters struct {
	connectionsAccepted atomic.Int64
	connectionsRefused  atomic.Int64
	requestsForwarded   atomic.Int64
	requestsBlackholed  atomic.Int64
	responsesForwarded  atomic.Int64
	responsesDropped    atomic.Int64
	responsesHeld       atomic.Int64
	responsesDelayed    atomic.Int64
	responsesBlackholed atomic.Int64
}

// Stats returns a snapshot of the counters (each read atomically, not all
// at one instant).
func (p *Proxy) Stats() Stats {
	c := &p.stats
	return Stats{
		ConnectionsAccepted: c.connectionsAccepted.Load(),
		ConnectionsRefused:  c.connectionsRefused.Load(),
		RequestsForwarded:   c.requestsForwarded.Load(),
		RequestsBlackholed:  c.requestsBlackholed.Load(),
		ResponsesForwarded:  c.responsesForwarded.Load(),
		ResponsesDropped:    c.responsesDropped.Load(),
		ResponsesHeld:       c.responsesHeld.Load(),
		ResponsesDelayed:    c.responsesDelayed.Load(),
		ResponsesBlackholed: c.responsesBlackholed.Load(),
	}
}
