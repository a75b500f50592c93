// Package proc runs and watches the processes of the test and benchmark
// harness: a Group owns the processes a Go program starts and stops them
// all; pid files (pidfile.go) know the detached daemons that outlive the
// command that started them (Cassandra nodes, kubo daemons); every wait
// takes a context and a timeout.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Group owns every long-running process a harness starts (kubo daemons,
// cluster peers). Each one runs in its own process group, dies with the
// harness (Pdeathsig) and is stopped by StopAll on exit, failure or Ctrl-C.
type Group struct {
	mu   sync.Mutex
	list []*Proc
}

// Proc is one started process.
type Proc struct {
	Name    string
	LogPath string
	Started time.Time
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // exit error, valid after done
}

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Start runs bin with args in the background, stdout and stderr to logPath.
func (g *Group) Start(name, logPath string, env []string, bin string, args ...string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: starting %s: %w", name, bin, err)
	}
	p := &Proc{Name: name, cmd: cmd, LogPath: logPath, Started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	g.mu.Lock()
	g.list = append(g.list, p)
	g.mu.Unlock()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Err is the exit error once the process has exited (nil before).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Exited tells whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// MaxRSS is the peak resident set of the process in bytes, once it has
// exited (0 before).
func (p *Proc) MaxRSS() int64 {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// Stop sends SIGTERM to the process group, then SIGKILL after timeout.
// It is idempotent and returns once the process is reaped.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s: killed", p.Name, p.PID(), timeout)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survives SIGKILL", p.Name, p.PID())
	}
}

// StopAll stops every process still running, the last started first
// (SIGKILL after timeout each), and returns what went wrong.
func (g *Group) StopAll(timeout time.Duration) error {
	g.mu.Lock()
	list := append([]*Proc(nil), g.list...)
	g.list = nil
	g.mu.Unlock()
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i].Stop(timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CLIResult is what a finished command-line run cost.
type CLIResult struct {
	Wall    time.Duration
	CPU     time.Duration // user + system
	MaxRSS  int64         // bytes
	LogPath string
}

// RunCLI runs a short-lived command to completion (stdin empty, output to
// logPath), killing its process group when ctx ends or timeout passes.
func RunCLI(ctx context.Context, timeout time.Duration, logPath string, env []string, bin string, args ...string) (CLIResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logf, err := os.Create(logPath)
	if err != nil {
		return CLIResult{}, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	t0 := time.Now()
	err = cmd.Run()
	res := CLIResult{Wall: time.Since(t0), LogPath: logPath}
	if cmd.ProcessState != nil {
		res.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = ru.Maxrss * 1024
		}
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("%s %v: timed out after %s (log: %s)", bin, args, timeout, logPath)
		}
		return res, fmt.Errorf("%s %v: %w (log: %s, last lines: %s)", bin, args, err, logPath, Tail(logPath, 5))
	}
	return res, nil
}
