package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/pinset"
)

const (
	// metricName is the gauge of the pins in error.
	metricName = "ipfscluster_pins_pin_error"
	// scrapeTimeout bounds one read of the metrics.
	scrapeTimeout = 5 * time.Second
	// ctlTimeout bounds one timed ipfs-cluster-ctl call (a global
	// status of 100k pins takes some 30 s).
	ctlTimeout = 10 * time.Minute
	// progressEvery is the least time between two progress lines.
	progressEvery = 10 * time.Second
)

// logf writes "HH:MM:SS message" to stderr and the summary.
func (b *bench) logf(format string, args ...any) {
	line := fmt.Sprintf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	fmt.Fprint(os.Stderr, line)
	fmt.Fprint(b.summary, line)
}

// secs formats a duration as the summary's seconds.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// metric is the value of the pins-in-error gauge (-1 when it cannot be
// read).
func (b *bench) metric(ctx context.Context) int {
	body, err := cluster.Get(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", b.metricsPort), scrapeTimeout)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == metricName {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				return int(v)
			}
		}
	}
	return -1
}

// rss is the peer's resident set now and at its peak, from /proc.
func (b *bench) rss() string {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.daemon.PID()))
	if err != nil {
		return "RSS unknown"
	}
	var out []string
	for _, line := range strings.Split(string(st), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "VmHWM:" || f[0] == "VmRSS:") {
			kb, _ := strconv.Atoi(f[1])
			out = append(out, fmt.Sprintf("%s %d MB", f[0], kb/1024))
		}
	}
	return strings.Join(out, "  ")
}

// waitAllInError polls the gauge every second until it reaches n (or the
// timeout passes: said, not an error), with a progress line when it moved.
func (b *bench) waitAllInError(ctx context.Context, started time.Time) error {
	deadline := time.Now().Add(b.timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastLog := -1, time.Now()
	for {
		m := b.metric(ctx)
		if m >= b.n {
			break
		}
		if m != last && time.Since(lastLog) >= progressEvery {
			b.logf("metric %d; %s", m, b.rss())
			last, lastLog = m, time.Now()
		}
		if time.Now().After(deadline) {
			b.logf("TIMEOUT: metric %d", m)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	b.logf("all %d in error (metric %d) after %s since start; %s", b.n, b.metric(ctx), secs(time.Since(started)), b.rss())
	return nil
}

// measure times the status calls once all are in error, and again after
// a minute.
func (b *bench) measure(ctx context.Context) error {
	for i := 1; i <= 3; i++ {
		d, err := b.timeCtl(ctx, io.Discard, "status", "--filter", "error")
		if err != nil {
			return err
		}
		b.logf("status --filter error #%d: %s; %s", i, secs(d), b.rss())
	}
	n, d, err := b.countErrors(ctx)
	if err != nil {
		return err
	}
	b.logf("listed (--enc=json, JSON values decoded and counted): %d in %s", n, secs(d))
	var out bytes.Buffer
	if d, err = b.timeCtl(ctx, &out, "status", pinset.CID(b.series(), 0).String()); err != nil {
		return err
	}
	b.logf("status CID: %s: %s", secs(d), secondLine(out.String(), 100))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(idleAfter):
	}
	b.logf("60 s later: %s metric %d", b.rss(), b.metric(ctx))
	if d, err = b.timeCtl(ctx, io.Discard, "status", "--filter", "error"); err != nil {
		return err
	}
	b.logf("status --filter error after 60 s: %s; %s", secs(d), b.rss())
	return nil
}

// ctlCmd is ipfs-cluster-ctl with args against the peer (within
// ctlTimeout; cancel ends it).
func (b *bench) ctlCmd(ctx context.Context, args ...string) (*exec.Cmd, context.CancelFunc, error) {
	argv, err := b.ctl.Args(args...)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stderr = os.Stderr
	return c, cancel, nil
}

// timeCtl runs ipfs-cluster-ctl with args, its output to out, and returns
// how long it took.
func (b *bench) timeCtl(ctx context.Context, out io.Writer, args ...string) (time.Duration, error) {
	c, cancel, err := b.ctlCmd(ctx, args...)
	if err != nil {
		return 0, err
	}
	defer cancel()
	c.Stdout = out
	t0 := time.Now()
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("ipfs-cluster-ctl %v: %w", args, err)
	}
	return time.Since(t0), nil
}

// countErrors streams `ipfs-cluster-ctl --enc=json status --filter error`
// and counts the JSON values it prints, timing the whole.
func (b *bench) countErrors(ctx context.Context) (int, time.Duration, error) {
	c, cancel, err := b.ctlCmd(ctx, "--enc=json", "status", "--filter", "error")
	if err != nil {
		return 0, 0, err
	}
	defer cancel()
	stdout, err := c.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if err := c.Start(); err != nil {
		return 0, 0, err
	}
	n, dec := 0, json.NewDecoder(bufio.NewReaderSize(stdout, 1<<20))
	for {
		var v json.RawMessage
		if err = dec.Decode(&v); err != nil {
			break
		}
		n++
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if werr := c.Wait(); err == nil {
		err = werr
	}
	return n, time.Since(t0), err
}

// secondLine is the second line of s, cut to at most width bytes.
func secondLine(s string, width int) string {
	lines := strings.SplitN(s, "\n", 3)
	if len(lines) < 2 {
		return ""
	}
	return lines[1][:min(width, len(lines[1]))]
}

// countLines is how many lines of the file contain needle.
func countLines(path, needle string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n, sc := 0, bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), needle) {
			n++
		}
	}
	return n
}
