package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// initTimeout bounds `ipfs-cluster-service init`.
const initTimeout = 2 * time.Minute

// Init makes the peer's folder with `ipfs-cluster-service --config DIR
// init --force --datastore DATASTORE [ARGS]` (output in init.log, shown
// on failure), then keeps its swarm on loopback (Loopback) and, with
// --randomports and Ports set, moves its listen ports to Ports' (MovePorts).
func (p *Peer) Init(ctx context.Context, datastore string, args ...string) error {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return fmt.Errorf("peer folder: %w", err)
	}
	log := p.Dir + "/init.log"
	all := append([]string{"--config", p.Dir, "init", "--force", "--datastore", datastore}, args...)
	if _, err := proc.RunCLI(ctx, initTimeout, log, nil, p.Bin, all...); err != nil {
		if b, rerr := os.ReadFile(log); rerr == nil {
			_, _ = p.Tails.Write(b)
		}
		return fmt.Errorf("ipfs-cluster-service init in %s: %w", p.Dir, err)
	}
	var moved error
	err := p.Edit(func(c map[string]any) {
		Loopback(c)
		if p.Ports != nil && slices.Contains(args, "--randomports") {
			moved = MovePorts(c, p.Ports)
		}
	})
	if err := errors.Join(err, moved); err != nil {
		return fmt.Errorf("ipfs-cluster-service init in %s: %w", p.Dir, err)
	}
	return nil
}

// Daemon starts `ipfs-cluster-service --config DIR daemon [ARGS]`
// detached, in this process's working directory, its pid in daemon.pid,
// its output in daemon.log (the previous one moved to daemon.log.1).
func (p *Peer) Daemon(args ...string) (int, error) {
	f := p.pidFile()
	if pid := f.Running(); pid != 0 {
		return 0, fmt.Errorf("cluster peer in %s %w (pid %d)", p.Dir, ErrRunning, pid)
	}
	if _, err := os.Stat(p.LogFile()); err == nil {
		if err := os.Rename(p.LogFile(), p.LogFile()+".1"); err != nil {
			return 0, fmt.Errorf("keeping the previous log: %w", err)
		}
	}
	pid, err := f.Spawn(p.LogFile(), "", nil, p.Bin, append([]string{"--config", p.Dir, "daemon"}, args...)...)
	if err != nil {
		return 0, err
	}
	p.Logf("cluster peer %s: pid %d", p.Dir, pid)
	return pid, nil
}

// Wait polls GET /id of the peer's REST API until it answers (timeout 0:
// StartTimeout). It fails at once, after the end of the log, when the
// daemon is not running, and with proc.ErrTimeout when timeout passes.
func (p *Peer) Wait(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = p.StartTimeout
	}
	port, err := p.RESTAPIPort()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/id", port)
	err = proc.Poll(ctx, timeout, 50*time.Millisecond, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := p.CheckRunning(); err != nil {
			return false, err
		}
		return answersID(ctx, url), nil
	})
	if errors.Is(err, proc.ErrTimeout) {
		err = fmt.Errorf("no answer from %s: %w", url, err)
		fmt.Fprintf(p.Tails, "timeout (%s): no answer from %s\n", timeout, url)
		p.Tail()
	}
	return err
}

// answersID tells whether GET url answers with a peer's id (2 s at most).
func answersID(ctx context.Context, url string) bool {
	b, err := Get(ctx, url, 2*time.Second)
	return err == nil && strings.Contains(string(b), `"id"`)
}

// Get is the body (up to 4 MiB) of GET url, within timeout.
func Get(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 4<<20))
}

// WaitReady waits until the peer has logged ReadyLine (timeout 0:
// StartTimeout); it fails at once when the daemon is not running.
func (p *Peer) WaitReady(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = p.StartTimeout
	}
	w := proc.NewLogWatch(p.LogFile(), ReadyLine)
	err := proc.Poll(ctx, timeout, proc.FirstPoll, 500*time.Millisecond, func(context.Context) (bool, error) {
		if w.Found() {
			return true, nil
		}
		return false, p.CheckRunning()
	})
	if errors.Is(err, proc.ErrTimeout) {
		err = fmt.Errorf("cluster peer in %s: no %q in its log: %w", p.Dir, ReadyLine, err)
	}
	return err
}

// Start is Daemon, then Wait.
func (p *Peer) Start(ctx context.Context, args ...string) error {
	if _, err := p.Daemon(args...); err != nil {
		return err
	}
	return p.Wait(ctx, 0)
}

// Stop sends SIGTERM to the daemon, SIGKILL after StopTimeout, and waits
// until it is gone; the pid file is removed. Idempotent.
func (p *Peer) Stop(ctx context.Context) error { return p.signal(ctx, syscall.SIGTERM) }

// Kill sends SIGKILL to the daemon now (a crash); its folder stays.
func (p *Peer) Kill(ctx context.Context) error { return p.signal(ctx, syscall.SIGKILL) }

func (p *Peer) signal(ctx context.Context, sig syscall.Signal) error {
	if _, err := os.Stat(p.Dir); err != nil {
		return nil // nothing was ever started there
	}
	return proc.Stop(ctx, sig, p.StopTimeout, p.Logf, p.pidFile())
}
