package proc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Spawn starts bin with args in dir as a detached daemon: in a session of
// its own (no terminal signal reaches it, it outlives this process), stdin
// from /dev/null, output to logPath, no file descriptor above 2 (see
// closeOnExec); env is added to this process's environment. Its pid is
// recorded in f. If this process outlives it, a goroutine reaps it when
// it exits.
func (f PIDFile) Spawn(logPath, dir string, env []string, bin string, args ...string) (int, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("%s: log file: %w", f.Label, err)
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	closeOnExec()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: starting %s: %w", f.Label, bin, err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	if err := f.Record(pid); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return 0, fmt.Errorf("%s: recording pid %d in %s: %w", f.Label, pid, f.Path, err)
	}
	return pid, nil
}

// Stop sends sig (SIGTERM or SIGKILL) to each daemon that runs (SIGCONT
// too, so that a paused one acts on SIGTERM), waits until all are gone,
// SIGKILLs those left after timeout, and removes the pid files.
// Idempotent. It fails only if a daemon survives SIGKILL (or ctx ends).
func Stop(ctx context.Context, sig syscall.Signal, timeout time.Duration, logf func(string, ...any), files ...PIDFile) error {
	type target struct {
		f     PIDFile
		pid   int
		start string
	}
	var ts []target
	for _, f := range files {
		pid := f.Running()
		if pid == 0 {
			continue
		}
		_, start := f.recorded()
		logf("%s: SIG%s pid %d", f.Label, sigName(sig), pid)
		_ = syscall.Kill(pid, sig)
		if sig != syscall.SIGKILL {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
		ts = append(ts, target{f, pid, start})
	}
	deadline := time.Now().Add(timeout)
	for {
		var alive []target
		for _, t := range ts {
			if !gone(t.pid, t.start, t.f.Word) {
				alive = append(alive, t)
			}
		}
		if len(alive) == 0 {
			for _, t := range ts {
				t.f.Forget()
			}
			return nil
		}
		if time.Now().After(deadline) {
			if sig == syscall.SIGKILL {
				return fmt.Errorf("pid %d (%s) survives SIGKILL", alive[0].pid, alive[0].f.Label)
			}
			for _, t := range alive {
				logf("%s: pid %d still alive after %s: SIGKILL", t.f.Label, t.pid, timeout)
				_ = syscall.Kill(t.pid, syscall.SIGKILL)
			}
			sig = syscall.SIGKILL
			deadline = time.Now().Add(30 * time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopping %s: %w", ts[0].f.Label, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// gone tells whether the daemon pid (started at start, or with word in
// its argv when start is empty) has certainly ended: no such process, a
// zombie, or another process under that pid. A read of /proc that fails
// (a process in the middle of exiting, a loaded machine) tells nothing:
// Stop looks again rather than report a daemon gone that still runs.
func gone(pid int, start, word string) bool {
	if !signalable(pid) {
		return true
	}
	st, s, err := stat(pid)
	switch {
	case err != nil:
		return !exists(pid)
	case st == 'Z' || st == 'X':
		return true
	case start != "":
		return s != start
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !exists(pid)
	}
	for _, a := range bytes.Split(b, []byte{0}) {
		if string(a) == word {
			return false
		}
	}
	return true
}

// closeOnExec marks every file descriptor of this process above 2 close-on-
// exec. Go opens its own so, but one inherited without the flag (a
// caller's pipe: sharness's fds 3-6, a `| tee` in CI) would pass to every
// program this process starts, and a daemon holding it keeps the pipe
// open after this process has exited.
func closeOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// sigName is TERM for SIGTERM (as kill -l spells it).
func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGSTOP:
		return "STOP"
	case syscall.SIGCONT:
		return "CONT"
	}
	return s.String()
}
