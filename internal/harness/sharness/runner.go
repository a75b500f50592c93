// Package sharness runs the sharness suite (sharness/t*.sh) as
// sharness/run-sharness-tests.sh does: each script in turn, verbose into
// test-results/NAME.log, its TAP lines on the terminal and in
// test-results/NAME.out, what a failed script did, then the sum of the
// counts and a verdict that also fails on a skipped test.
package sharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Exit codes of Run.
const (
	ExitOK     = 0
	ExitFailed = 1
	// ExitTimeout is a script's exit code when its timeout passed (as
	// timeout(1)'s).
	ExitTimeout = 124
)

// killDelay is how long a script has after SIGTERM before SIGKILL.
const killDelay = 30 * time.Second

// Runner runs test scripts of Dir.
type Runner struct {
	Dir       string        // sharness/: the scripts, test-results/, trash directories
	Timeout   time.Duration // per script, then SIGTERM to its process group
	Opts      []string      // more options of each script (after -v)
	AllowSkip bool          // a skipped test does not fail the run
	Start     time.Time     // of the whole run, for the total time
	Stdout    io.Writer     // the TAP lines, failures and the summary
	Logf      func(format string, args ...any)
}

// results is test-results/.
func (r *Runner) results() string { return filepath.Join(r.Dir, "test-results") }

var tapLineRE = regexp.MustCompile(`^(ok |not ok |#|1\.\.)`)

// Run runs tests (names of scripts in Dir) and returns ExitOK if every
// test passed (and, unless AllowSkip, none was skipped), else ExitFailed.
func (r *Runner) Run(ctx context.Context, tests []string) (int, error) {
	if err := os.RemoveAll(r.results()); err != nil {
		return ExitFailed, fmt.Errorf("removing test-results: %w", err)
	}
	if err := os.MkdirAll(r.results(), 0o755); err != nil {
		return ExitFailed, fmt.Errorf("test-results: %w", err)
	}
	var died []string
	for _, t := range tests {
		ok, err := r.runOne(ctx, t)
		if err != nil {
			return ExitFailed, err
		}
		if !ok {
			died = append(died, t)
		}
		if ctx.Err() != nil {
			return ExitFailed, ctx.Err()
		}
	}
	return r.verdict(len(tests), died)
}

// runOne runs script t and tells whether it exited 0.
func (r *Runner) runOne(ctx context.Context, t string) (bool, error) {
	name := strings.TrimSuffix(t, ".sh")
	t0 := time.Now()
	fmt.Fprintf(r.Stdout, "\n*** %s ***\n", t)
	logPath := filepath.Join(r.results(), name+".log")
	rc, err := r.exec(ctx, t, logPath)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", logPath, err)
	}
	var tap strings.Builder
	for _, l := range splitLines(string(b)) {
		if tapLineRE.MatchString(l) {
			tap.WriteString(l + "\n")
		}
	}
	io.WriteString(r.Stdout, tap.String())
	if err := os.WriteFile(filepath.Join(r.results(), name+".out"), []byte(tap.String()), 0o644); err != nil {
		return false, fmt.Errorf("test-results: %w", err)
	}
	fmt.Fprintf(r.Stdout, "*** %s: exit %d in %ds\n", t, rc, int(time.Since(t0).Seconds()))
	if rc == 0 {
		return true, nil
	}
	Explain(r.Stdout, r.Dir, r.results(), name)
	if m, _ := filepath.Glob(filepath.Join(r.results(), name+".*.counts")); len(m) == 0 {
		if err := os.WriteFile(filepath.Join(r.results(), name+".0.counts"), []byte(diedCounts), 0o644); err != nil {
			return false, fmt.Errorf("test-results: %w", err)
		}
	}
	return false, nil
}

// exec runs `bash ./T -v OPTS` in Dir, in a process group of its own,
// its output into logPath; past Timeout the group gets SIGTERM, and
// SIGKILL killDelay later. It returns the exit code (ExitTimeout when the
// timeout passed, 128+N when killed by signal N).
func (r *Runner) exec(ctx context.Context, t, logPath string) (int, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return 0, fmt.Errorf("test-results: %w", err)
	}
	defer out.Close()
	tctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, "bash", append([]string{"./" + t, "-v"}, r.Opts...)...)
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Dir, os.Stdin, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = killDelay
	err = cmd.Run()
	if errors.Is(tctx.Err(), context.DeadlineExceeded) && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what is left of the group
		return ExitTimeout, nil
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	case err != nil:
		return 0, fmt.Errorf("running %s: %w", t, err)
	}
	return 0, nil
}

// verdict prints the sum of the counts and the verdict of a run of n
// scripts, died those that exited non-zero.
func (r *Runner) verdict(n int, died []string) (int, error) {
	fmt.Fprintln(r.Stdout)
	c, err := Aggregate(r.results())
	if err != nil {
		return ExitFailed, err
	}
	c.WriteSummary(r.Stdout)
	fmt.Fprintf(r.Stdout, "\n%d script(s), %d test(s), %d known breakage(s); total time %ds\n",
		n, c.Total, c.Broken, int(time.Since(r.Start).Seconds()))
	if len(died) > 0 {
		fmt.Fprintf(r.Stdout, "script(s) that exited non-zero: %s\n", strings.Join(died, " "))
	}
	skipped, err := Skipped(r.results())
	if err != nil {
		return ExitFailed, err
	}
	fmt.Fprintf(r.Stdout, "sharness: %d passed, %d failed, %d skipped\n", c.Success-len(skipped), c.Failed, len(skipped))
	if len(skipped) > 0 {
		fmt.Fprintln(r.Stdout, strings.Join(skipped, "\n"))
		if !r.AllowSkip {
			r.Logf("tests were skipped for missing prerequisites: install or build them (make build kubo), or set SHARNESS_ALLOW_SKIP=1")
			return ExitFailed, nil
		}
	}
	if c.Failed > 0 || len(died) > 0 || c.Total == 0 {
		return ExitFailed, nil
	}
	return ExitOK, nil
}
