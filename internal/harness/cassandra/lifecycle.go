package cassandra

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// ErrRunning is returned by Start and StartNode when what they would start
// runs already.
var ErrRunning = errors.New("already running")

// checkJava checks that Java is 11 or 17 (what Cassandra 5.0 runs on).
func (in *Instance) checkJava(ctx context.Context) error {
	if st, err := os.Stat(in.Java); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return bad("java not found at %s (set CASSANDRA_JAVA)", in.Java)
	}
	out, _ := exec.CommandContext(ctx, in.Java, "-version").CombinedOutput()
	v, _, _ := strings.Cut(string(out), "\n")
	if !strings.Contains(v, `"17.`) && !strings.Contains(v, `"11.`) {
		return bad("Cassandra 5.0 needs Java 11 or 17; %s is: %s", in.Java, v)
	}
	return nil
}

func (in *Instance) portsInUse(ctx context.Context, ip string, ports ...int) error {
	for _, p := range ports {
		if proc.TCPOpen(ctx, ip, p, 2*time.Second) {
			return tagged(ErrRunning, "%s:%d is already in use (another Cassandra instance or a leftover process?)", ip, p)
		}
	}
	return nil
}

// Start fetches the jars if needed, writes every node's configuration
// (fresh data unless KeepData), starts node 1, then the others, and waits
// until all serve CQL, see each other UP and (with auth) the login works.
// If anything fails, or ctx ends, it stops what it started.
func (in *Instance) Start(ctx context.Context) error {
	t0 := time.Now()
	var running []int
	for i := 1; i <= in.N(); i++ {
		in.pidFile(i).Adopt(in.Logf)
		if in.PID(i) != 0 {
			running = append(running, i)
		}
	}
	if len(running) > 0 {
		return tagged(ErrRunning, "instance '%s' is already running (node(s) %s; see '%s status'); run '%s stop' first", in.Name, joinInts(running, " "), in.Cmd, in.Cmd)
	}
	for _, ip := range in.Hosts {
		if err := in.portsInUse(ctx, ip, in.Port, in.StoragePort); err != nil {
			return err
		}
	}
	if err := in.checkJava(ctx); err != nil {
		return err
	}
	if err := in.Fetch(ctx); err != nil {
		return err
	}
	if in.KeepData {
		if old := in.recorded["HOSTS"]; old != "" && old != strings.Join(in.Hosts, ",") {
			in.Logf("WARNING: CASSANDRA_KEEP_DATA=1 but hosts changed (%s -> %s)", old, strings.Join(in.Hosts, ","))
		}
		if old := in.recorded["DCS"]; old != strings.Join(in.DCs, ",") {
			in.Logf("WARNING: CASSANDRA_KEEP_DATA=1 but data centers changed ('%s' -> '%s'): startup checks may refuse the data", old, strings.Join(in.DCs, ","))
		}
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return err
	}
	if err := in.record(); err != nil {
		return err
	}
	if in.TLS {
		if err := in.genTLS(); err != nil {
			return err
		}
	}
	if !in.KeepData {
		_ = os.Remove(filepath.Join(in.Dir, "auth.ready"))
	}
	for i := 1; i <= in.N(); i++ {
		if !in.KeepData {
			if err := os.RemoveAll(filepath.Join(in.nodeDir(i), "storage")); err != nil {
				return err
			}
		}
		if err := in.writeNodeConf(i); err != nil {
			return err
		}
	}
	var extra []string
	if len(in.DCs) > 0 {
		extra = append(extra, " (data centers "+strings.Join(in.DCs, ",")+")")
	}
	flags := ""
	if in.Auth {
		flags += " auth"
	}
	if in.TLS {
		flags += " tls"
	}
	in.Logf("starting Cassandra %s: %d node(s) on %s%s port %d heap %s%s (dir %s)",
		in.Version, in.N(), strings.Join(in.Hosts, ","), strings.Join(extra, ""), in.Port, in.Heap, flags, in.Dir)
	if err := in.startAll(ctx); err != nil {
		if ctx.Err() != nil {
			in.Logf("interrupted: stopping")
		} else {
			in.Logf("startup FAILED; stopping what was started")
		}
		if serr := in.stopNodes(context.WithoutCancel(ctx), syscall.SIGTERM, in.allNodes()); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	in.Logf("ready in %ds: hosts %s port %d", secs(t0), strings.Join(in.Hosts, ","), in.Port)
	return nil
}

func (in *Instance) startAll(ctx context.Context) error {
	if err := in.launch(1); err != nil {
		return err
	}
	if err := in.waitCQL(ctx, time.Now().Add(in.StartTimeout), []int{1}); err != nil {
		return err
	}
	deadline := time.Now().Add(in.StartTimeout)
	if in.N() > 1 {
		var rest []int
		for i := 2; i <= in.N(); i++ {
			if err := in.launch(i); err != nil {
				return err
			}
			rest = append(rest, i)
		}
		if err := in.waitCQL(ctx, deadline, rest); err != nil {
			return err
		}
	}
	if err := in.waitGossip(ctx, deadline); err != nil {
		return err
	}
	return in.waitAuth(ctx, deadline)
}

// launch starts node i in the background (its configuration must exist).
func (in *Instance) launch(i int) error {
	nd := in.nodeDir(i)
	args := filepath.Join(nd, "conf", "jvm.args")
	if _, err := os.Stat(args); err != nil {
		return fmt.Errorf("node%d has no config; run start first", i)
	}
	logs := filepath.Join(nd, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"system.log", "stdout.log"} {
		if _, err := os.Stat(filepath.Join(logs, f)); err == nil {
			_ = os.Rename(filepath.Join(logs, f), filepath.Join(logs, f+".1"))
		}
	}
	old, _ := filepath.Glob(filepath.Join(logs, "upmark.*"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	// Peers must log this node as UP *after* this point (byte offset in their system.log).
	for j := 1; j <= in.N(); j++ {
		if j == i {
			continue
		}
		var size int64
		if st, err := os.Stat(in.systemLog(j)); err == nil {
			size = st.Size()
		}
		mark := filepath.Join(in.nodeDir(j), "logs", "upmark."+strconv.Itoa(i))
		if err := os.WriteFile(mark, []byte(strconv.FormatInt(size, 10)+"\n"), 0o644); err != nil {
			return err
		}
	}
	f := in.pidFile(i)
	pid, err := f.Spawn(filepath.Join(logs, "stdout.log"), nd, nil, in.Java, f.Word)
	n := in.nodes[i-1]
	if err != nil {
		in.Logf("node%d %s (%s): %v", i, n.ip, n.dc, err)
		return nil // the wait reports it as dead, with its log
	}
	in.Logf("node%d %s (%s): started pid %d", i, n.ip, n.dc, pid)
	return nil
}

// Wait waits until every node serves CQL, the nodes see each other UP and
// (auth) the login works; every node must run.
func (in *Instance) Wait(ctx context.Context) error {
	for i := 1; i <= in.N(); i++ {
		if in.PID(i) == 0 {
			return fmt.Errorf("node%d (%s) is not running (start it with '%s start-node %d'; see '%s logs %d')",
				i, in.nodes[i-1].ip, in.Cmd, i, in.Cmd, i)
		}
	}
	deadline := time.Now().Add(in.StartTimeout)
	if err := in.waitCQL(ctx, deadline, in.allNodes()); err != nil {
		return err
	}
	if err := in.waitGossip(ctx, deadline); err != nil {
		return err
	}
	if err := in.waitAuth(ctx, deadline); err != nil {
		return err
	}
	in.Logf("ready: hosts %s port %d", strings.Join(in.Hosts, ","), in.Port)
	return nil
}

// stopNodes signals the nodes (SIGTERM: SIGKILL after StopTimeout), waits
// until they are gone, then until their ports are free (15 s at most: a
// killed JVM can keep its listening sockets until it is reaped).
func (in *Instance) stopNodes(ctx context.Context, sig syscall.Signal, nodes []int) error {
	var files []proc.PIDFile
	var had []int
	for _, i := range nodes {
		f := in.pidFile(i)
		f.Adopt(in.Logf)
		if f.Running() != 0 {
			had = append(had, i)
		}
		files = append(files, f)
	}
	if err := proc.Stop(ctx, sig, in.StopTimeout, in.Logf, files...); err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, i := range had {
		if i > in.N() {
			continue
		}
		ip := in.nodes[i-1].ip
		for (proc.TCPOpen(ctx, ip, in.Port, time.Second) || proc.TCPOpen(ctx, ip, in.StoragePort, time.Second)) && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}

// Stop stops every node that has a directory (also if the recorded host
// list changed), with SIGTERM, SIGKILL after StopTimeout. Idempotent.
func (in *Instance) Stop(ctx context.Context) error {
	dirs, _ := filepath.Glob(filepath.Join(in.Dir, "node*"))
	var nodes []int
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		if i, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "node")); err == nil {
			nodes = append(nodes, i)
		}
	}
	if len(nodes) > 0 {
		if err := in.stopNodes(ctx, syscall.SIGTERM, nodes); err != nil {
			return err
		}
	}
	in.Logf("stopped")
	return nil
}

// Clean stops the instance, then deletes its directory.
func (in *Instance) Clean(ctx context.Context) error {
	if err := in.Stop(ctx); err != nil {
		return err
	}
	if in.Dir != "" && in.Dir != "/" {
		if err := os.RemoveAll(in.Dir); err != nil {
			return err
		}
	}
	in.Logf("removed %s", in.Dir)
	return nil
}

// StopNode stops node i (SIGTERM) and waits until it is gone; its data stays.
func (in *Instance) StopNode(ctx context.Context, i int) error {
	if err := in.stopNodes(ctx, syscall.SIGTERM, []int{i}); err != nil {
		return err
	}
	in.Logf("node%d stopped (data kept)", i)
	return nil
}

// KillNode SIGKILLs node i (a crash); its data stays.
func (in *Instance) KillNode(ctx context.Context, i int) error {
	if in.PID(i) == 0 {
		in.Logf("node%d is not running", i)
		return nil
	}
	if err := in.stopNodes(ctx, syscall.SIGKILL, []int{i}); err != nil {
		return err
	}
	in.Logf("node%d killed (SIGKILL, data kept)", i)
	return nil
}

// StartNode starts node i again with its data and waits for it, for
// gossip UP and (auth) the login.
func (in *Instance) StartNode(ctx context.Context, i int) error {
	t0 := time.Now()
	if in.PID(i) != 0 {
		return tagged(ErrRunning, "node%d is already running", i)
	}
	if err := in.portsInUse(ctx, in.nodes[i-1].ip, in.Port); err != nil {
		return err
	}
	if err := in.checkJava(ctx); err != nil {
		return err
	}
	if err := in.launch(i); err != nil {
		return err
	}
	deadline := time.Now().Add(in.StartTimeout)
	err := in.waitCQL(ctx, deadline, []int{i})
	if err == nil {
		err = in.waitGossip(ctx, deadline)
	}
	if err == nil {
		err = in.waitAuth(ctx, deadline)
	}
	if err != nil {
		in.Logf("node%d failed to come back", i)
		return err
	}
	in.Logf("node%d ready in %ds", i, secs(t0))
	return nil
}

// signalNodes pauses (SIGSTOP) or resumes (SIGCONT) the nodes' java;
// idempotent, a node that does not run is reported and skipped.
func (in *Instance) signalNodes(sig syscall.Signal, nodes []int) {
	pause := sig == syscall.SIGSTOP
	for _, i := range nodes {
		n := in.nodes[i-1]
		pid := in.PID(i)
		if pid == 0 {
			verb := "resume"
			if pause {
				verb = "pause"
			}
			in.Logf("node%d (%s) is not running: nothing to %s", i, n.ip, verb)
			continue
		}
		if proc.Paused(pid) == pause {
			if pause {
				in.Logf("node%d is paused already", i)
			} else {
				in.Logf("node%d is not paused", i)
			}
			continue
		}
		_ = syscall.Kill(pid, sig)
		// Wait (5 s at most) until /proc shows the new state.
		for k := 0; k < 50 && proc.Paused(pid) != pause; k++ {
			time.Sleep(100 * time.Millisecond)
		}
		state, name := "resumed", "CONT"
		if pause {
			state, name = "paused", "STOP"
		}
		in.Logf("node%d %s (%s): %s (SIG%s pid %d)", i, n.ip, n.dc, state, name, pid)
	}
}

func (in *Instance) resumeNodes(ctx context.Context, nodes []int) error {
	t0 := time.Now()
	in.signalNodes(syscall.SIGCONT, nodes)
	if err := in.waitGossip(ctx, time.Now().Add(in.StartTimeout)); err != nil {
		return err
	}
	in.Logf("resumed in %ds", secs(t0))
	return nil
}

// PauseNode SIGSTOPs node i (an unresponsive node: its sockets stay open).
func (in *Instance) PauseNode(i int) { in.signalNodes(syscall.SIGSTOP, []int{i}) }

// ResumeNode SIGCONTs node i, then waits until the running nodes see each
// other UP.
func (in *Instance) ResumeNode(ctx context.Context, i int) error {
	return in.resumeNodes(ctx, []int{i})
}

// PauseDC pauses every node of data center dc.
func (in *Instance) PauseDC(dc string) error {
	nodes, err := in.dcNodes(dc)
	if err != nil {
		return err
	}
	in.signalNodes(syscall.SIGSTOP, nodes)
	return nil
}

// ResumeDC resumes every node of data center dc (see ResumeNode).
func (in *Instance) ResumeDC(ctx context.Context, dc string) error {
	nodes, err := in.dcNodes(dc)
	if err != nil {
		return err
	}
	return in.resumeNodes(ctx, nodes)
}
