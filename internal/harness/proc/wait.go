package proc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
)

// Polling schedule of WaitFor: the first check at once, then after
// FirstPoll, each wait longer by half up to MaxPoll. A condition that
// holds quickly is seen within a few milliseconds; one that takes long
// costs no more checks than a 50 ms poll.
const (
	FirstPoll = 5 * time.Millisecond
	MaxPoll   = 50 * time.Millisecond
)

// ErrTimeout is returned (wrapped) by the waits when their timeout
// passes: the outcome is unknown, not a failure of the thing waited for.
var ErrTimeout = errors.New("timed out")

// NextPoll is the wait after one of d.
func NextPoll(d time.Duration) time.Duration { return min(d+d/2, MaxPoll) }

// WaitFor polls cond (see FirstPoll) until it holds. It fails when
// timeout passes, when ctx ends, or at once when p (if not nil) exits.
// cond gets a context that ends with the timeout; it bounds its own calls
// further.
func WaitFor(ctx context.Context, timeout time.Duration, p *Proc, cond func(context.Context) bool) error {
	return Poll(ctx, timeout, FirstPoll, MaxPoll, func(ctx context.Context) (bool, error) {
		if p != nil && p.Exited() {
			return false, fmt.Errorf("%s exited (%v); last log lines: %s", p.Name, p.Err(), Tail(p.LogPath, 8))
		}
		return cond(ctx), nil
	})
}

// Poll calls check (at once, then after first, each wait longer by half up
// to most) until it reports done or an error. It fails with ErrTimeout
// when timeout passes and with ctx's error when ctx ends.
func Poll(ctx context.Context, timeout, first, most time.Duration, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTimer(first)
	defer t.Stop()
	wait := first
	for {
		done, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w after %s", ErrTimeout, timeout)
			}
			return ctx.Err()
		case <-t.C:
			wait = min(wait+wait/2, most)
			t.Reset(wait)
		}
	}
}

// TCPOpen tells whether something accepts TCP connections at host:port
// (within timeout).
func TCPOpen(ctx context.Context, host string, port int, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Ports handed out by FreePort lie below the kernel's ephemeral range
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

// FreePort is a TCP port free on 127.0.0.1, below the ephemeral range,
// and not handed out before by this process.
func FreePort() (int, error) {
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
