package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Polling schedule of waitFor: the first check at once, then after
// firstPoll, each wait longer by half up to maxPoll. A condition that
// holds quickly is seen within a few milliseconds; one that takes long
// costs no more checks than a 50 ms poll.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// nextPoll is the wait after one of d.
func nextPoll(d time.Duration) time.Duration { return min(d+d/2, maxPoll) }

// waitFor polls cond (see firstPoll) until it holds. It fails when
// timeout passes, when ctx ends, or at once when p (if not nil) exits.
// cond gets a context that ends with the timeout; it bounds its own calls
// further.
func waitFor(ctx context.Context, timeout time.Duration, p *proc, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTimer(firstPoll)
	defer t.Stop()
	wait := firstPoll
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited (%v); last log lines: %s", p.name, p.err, tail(p.logPath, 8))
		}
		if cond(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("timed out after %s", timeout)
			}
			return ctx.Err()
		case <-t.C:
			wait = nextPoll(wait)
			t.Reset(wait)
		}
	}
}

// Ports handed out by freePort lie below the kernel's ephemeral range
// (32768 and up by default), where outgoing connections take theirs: a
// port found free there could be taken by a connection before the daemon
// that was given it binds it, which happened with 24 peers.
const (
	portLow  = 20000
	portHigh = 32000
)

var (
	portsMu  sync.Mutex
	ports    = map[int]bool{}
	nextPort = portLow + rand.IntN(portHigh-portLow)
)

// freePort is a TCP port free on 127.0.0.1, below the ephemeral range,
// and not handed out before.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range portHigh - portLow {
		p := nextPort
		nextPort++
		if nextPort >= portHigh {
			nextPort = portLow
		}
		if ports[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken
		}
		l.Close()
		ports[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port found on 127.0.0.1 between %d and %d", portLow, portHigh)
}
