package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// waitFor polls cond every 50 ms until it holds. It fails when timeout
// passes, when ctx ends, or at once when p (if not nil) exits. cond gets a
// context that ends with the timeout; it bounds its own calls further.
func waitFor(ctx context.Context, timeout time.Duration, p *proc, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
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
		}
	}
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// freePort is a TCP port free on 127.0.0.1 and not handed out before.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !ports[p] {
			ports[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port found on 127.0.0.1")
}
