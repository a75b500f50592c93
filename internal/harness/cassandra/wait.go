package cassandra

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// cqlLine is what a node logs once it serves CQL (Cassandra 5.0).
const cqlLine = "Starting listening for CQL clients on"

func (in *Instance) systemLog(i int) string {
	return filepath.Join(in.nodeDir(i), "logs", "system.log")
}

// cqlReady tells whether node i logged the CQL line (current log) and its
// port accepts connections.
func (in *Instance) cqlReady(ctx context.Context, i int) bool {
	ip := in.nodes[i-1].ip
	want := fmt.Sprintf("%s /%s:%d (unencrypted)", cqlLine, ip, in.Port)
	if in.TLS {
		want = fmt.Sprintf("%s /%s:%d (encrypted)", cqlLine, ip, in.Port)
	}
	b, err := os.ReadFile(in.systemLog(i))
	if err != nil || !bytes.Contains(b, []byte(want)) {
		return false
	}
	return proc.TCPOpen(ctx, ip, in.Port, 2*time.Second)
}

// seesUp tells whether node i's latest gossip verdict on node j (since
// j's last start, see launch) is UP.
func (in *Instance) seesUp(i, j int) bool {
	var off int64
	if b, err := os.ReadFile(filepath.Join(in.nodeDir(i), "logs", "upmark."+strconv.Itoa(j))); err == nil {
		off, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	f, err := os.Open(in.systemLog(i))
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false
	}
	peer := fmt.Sprintf("InetAddress /%s:%d is now ", in.nodes[j-1].ip, in.StoragePort)
	up := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, peer+"UP") {
			up = true
		} else if strings.Contains(l, peer+"DOWN") {
			up = false
		}
	}
	return up
}

// checkDead fails, with the log tail, if one of the nodes is not running.
func (in *Instance) checkDead(nodes []int) error {
	for _, i := range nodes {
		if in.PID(i) == 0 {
			in.Logf("node%d (%s) is not running (died during startup?)", i, in.nodes[i-1].ip)
			in.tail(i)
			return fmt.Errorf("node%d (%s) is not running", i, in.nodes[i-1].ip)
		}
	}
	return nil
}

// poll runs step every interval until it reports done, fails, or the
// deadline passes (then onTimeout's error).
func poll(ctx context.Context, deadline time.Time, interval time.Duration, step func() (bool, error), onTimeout func() error) error {
	for {
		done, err := step()
		if err != nil || done {
			return err
		}
		if !time.Now().Before(deadline) {
			return onTimeout()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// waitCQL waits until the nodes serve CQL.
func (in *Instance) waitCQL(ctx context.Context, deadline time.Time, nodes []int) error {
	t0 := time.Now()
	pending := append([]int(nil), nodes...)
	return poll(ctx, deadline, time.Second, func() (bool, error) {
		if err := in.checkDead(pending); err != nil {
			return false, err
		}
		var still []int
		for _, i := range pending {
			if in.cqlReady(ctx, i) {
				in.Logf("node%d %s:%d serves CQL (after %ds)", i, in.nodes[i-1].ip, in.Port, secs(t0))
			} else {
				still = append(still, i)
			}
		}
		pending = still
		return len(pending) == 0, nil
	}, func() error {
		in.Logf("timeout waiting for CQL on node(s) %s", joinInts(pending, " "))
		for _, i := range pending {
			in.tail(i)
		}
		return fmt.Errorf("%w waiting for CQL on node(s) %s", proc.ErrTimeout, joinInts(pending, " "))
	})
}

// activeNodes are the nodes that run and are not paused.
func (in *Instance) activeNodes() []int {
	var out []int
	for i := 1; i <= in.N(); i++ {
		if pid := in.PID(i); pid != 0 && !proc.Paused(pid) {
			out = append(out, i)
		}
	}
	return out
}

// waitGossip waits until every active node sees every other active node UP.
func (in *Instance) waitGossip(ctx context.Context, deadline time.Time) error {
	if in.N() < 2 {
		return nil
	}
	run := in.activeNodes()
	if len(run) < 2 {
		return nil
	}
	t0 := time.Now()
	var missing []string
	return poll(ctx, deadline, time.Second, func() (bool, error) {
		if err := in.checkDead(run); err != nil {
			return false, err
		}
		missing = nil
		for _, i := range run {
			for _, j := range run {
				if i != j && !in.seesUp(i, j) {
					missing = append(missing, fmt.Sprintf("node%d->node%d", i, j))
				}
			}
		}
		if len(missing) == 0 {
			in.Logf("gossip: nodes %s all see each other UP (after %ds)", joinInts(run, " "), secs(t0))
			return true, nil
		}
		return false, nil
	}, func() error {
		in.Logf("timeout waiting for gossip UP: %s", strings.Join(missing, " "))
		for _, i := range run {
			in.tail(i)
		}
		return fmt.Errorf("%w waiting for gossip UP: %s", proc.ErrTimeout, strings.Join(missing, " "))
	})
}

// waitAuth waits until cassandra/cassandra can log in (the default
// superuser exists); nothing to do without auth.
func (in *Instance) waitAuth(ctx context.Context, deadline time.Time) error {
	if !in.Auth {
		return nil
	}
	t0 := time.Now()
	var out string
	return poll(ctx, deadline, 2*time.Second, func() (bool, error) {
		var stdout, stderr bytes.Buffer
		if in.probe(ctx, []string{"-login", "-timeout", "10s"}, &stdout, &stderr) == nil {
			in.Logf("%s (after %ds)", strings.TrimSpace(stdout.String()), secs(t0))
			return true, nil
		}
		out = strings.TrimSpace(stdout.String() + stderr.String())
		return false, in.checkDead(in.activeNodes())
	}, func() error {
		in.Logf("timeout waiting for login as cassandra/cassandra: %s", out)
		return fmt.Errorf("%w waiting for login as cassandra/cassandra: %s", proc.ErrTimeout, out)
	})
}

func secs(t0 time.Time) int { return int(time.Since(t0).Seconds()) }

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for k, i := range v {
		s[k] = strconv.Itoa(i)
	}
	return strings.Join(s, sep)
}
