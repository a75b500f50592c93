package kubo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// Package is what Build builds, from the tools/kubo module.
const Package = "github.com/ipfs/kubo/cmd/ipfs"

// childEnv is the environment added for every ipfs run on the repo.
func (in *Instance) childEnv() []string {
	return []string{"IPFS_PATH=" + in.Repo, "IPFS_TELEMETRY=off"}
}

// upToDate tells whether BinDir/ipfs is newer than tools/kubo/go.{mod,sum}.
func (in *Instance) upToDate() bool {
	bin, err := os.Stat(filepath.Join(in.BinDir, "ipfs"))
	if err != nil || bin.Mode()&0o111 == 0 {
		return false
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		st, err := os.Stat(filepath.Join(in.ToolsDir, f))
		if err != nil || !bin.ModTime().After(st.ModTime()) {
			return false
		}
	}
	return true
}

// Build builds ipfs into BinDir from tools/kubo, unless it is newer than
// go.mod and go.sum there (ForceBuild: always).
func (in *Instance) Build(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(in.ToolsDir, "go.mod")); err != nil {
		return bad("%s/go.mod is missing", in.ToolsDir)
	}
	out := filepath.Join(in.BinDir, "ipfs")
	if !in.ForceBuild && in.upToDate() {
		in.Logf("%s is up to date", out)
		return nil
	}
	if _, err := exec.LookPath(in.Go); err != nil {
		return bad("'%s' not found: Go is needed to build kubo", in.Go)
	}
	if err := os.MkdirAll(in.BinDir, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	tmp, err := os.CreateTemp(in.BinDir, ".ipfs.")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // gone once renamed
	in.Logf("building %s (tools/kubo) into %s", Package, out)
	c := exec.CommandContext(ctx, in.Go, "build", "-o", tmp.Name(), Package)
	c.Dir, c.Stdout, c.Stderr = in.ToolsDir, in.Stdout, in.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build of %s failed", Package)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	v, _ := exec.CommandContext(ctx, out, "version").Output()
	in.Logf("built %s in %ds", strings.TrimSpace(string(v)), secs(t0))
	return nil
}

// Start builds ipfs if needed, inits a fresh repo (KeepData: reuses one),
// sets the loopback-only settings, starts `ipfs daemon` in the background
// and waits until its API answers. If the wait fails, or ctx ends, it
// stops the daemon.
func (in *Instance) Start(ctx context.Context) error {
	t0 := time.Now()
	f := in.pidFile()
	f.Adopt(in.Logf)
	if pid := f.Running(); pid != 0 {
		return tagged(ErrRunning, "instance '%s' is already running (pid %d; see '%s status'); run '%s stop' first", in.Name, pid, in.Cmd, in.Cmd)
	}
	for _, p := range []int{in.APIPort, in.SwarmPort, in.GatewayPort} {
		if p > 0 && proc.TCPOpen(ctx, "127.0.0.1", p, 2*time.Second) {
			return tagged(ErrRunning, "127.0.0.1:%d is already in use (another kubo instance or a leftover process?)", p)
		}
	}
	if st, err := os.Stat(in.Bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		if in.BinGiven {
			return bad("KUBO_BIN=%s is not an executable", in.Bin)
		}
		if err := in.Build(ctx); err != nil {
			return err
		}
	}
	if err := in.initRepo(ctx); err != nil {
		return err
	}
	if err := in.record(); err != nil {
		return err
	}
	if _, err := os.Stat(in.LogFile()); err == nil {
		_ = os.Rename(in.LogFile(), in.LogFile()+".1")
	}
	pid, err := f.Spawn(in.LogFile(), in.Dir, in.childEnv(), in.Bin, f.Word, "daemon", "--migrate=false")
	if err != nil {
		return err
	}
	in.Logf("started pid %d: API %s, swarm /ip4/127.0.0.1/tcp/%d (repo %s)", pid, in.APIURL(), in.SwarmPort, in.Repo)
	if err := in.waitAPI(ctx, time.Now().Add(in.StartTimeout)); err != nil {
		if ctx.Err() != nil {
			in.Logf("interrupted: stopping")
		} else {
			in.Logf("startup FAILED; stopping")
		}
		if serr := in.Stop(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	in.Logf("ready in %ds", secs(t0))
	return nil
}

// initRepo makes the instance directory and the repo (`ipfs init --profile
// test --empty-repo`, unless KeepData and one exists) and writes the
// loopback-only settings into its config.
func (in *Instance) initRepo(ctx context.Context) error {
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(in.Dir, marker), nil, 0o644); err != nil {
		return err
	}
	config := filepath.Join(in.Repo, "config")
	initLog := filepath.Join(in.Dir, "init.log")
	if _, err := os.Stat(config); err == nil && in.KeepData {
		in.Logf("reusing repo %s", in.Repo)
	} else {
		if err := os.RemoveAll(in.Repo); err != nil {
			return err
		}
		_, err := proc.RunCLI(ctx, 2*time.Minute, initLog, in.childEnv(), in.Bin,
			"--repo-dir="+in.Repo, "init", "--profile", "test", "--empty-repo")
		if err != nil {
			if b, rerr := os.ReadFile(initLog); rerr == nil {
				_, _ = in.Tails.Write(b)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errors.New("ipfs init failed")
		}
	}
	if err := jsonconf.Edit(config, func(c map[string]any) { Loopback(c, in.APIPort, in.SwarmPort, in.GatewayPort) }); err != nil {
		return fmt.Errorf("ipfs config failed: %w", err)
	}
	return nil
}

// waitAPI polls the API every 0.5 s until it answers; it logs why not, and
// the end of the daemon's log, when the daemon is gone or the deadline
// passes.
func (in *Instance) waitAPI(ctx context.Context, deadline time.Time) error {
	f := in.pidFile()
	for {
		if f.Running() == 0 {
			in.Logf("the daemon is not running")
			in.tail(in.LogFile())
			return tagged(ErrNotReady, "the daemon is not running")
		}
		if in.ready(ctx) {
			return nil
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timeout: no answer from %s/api/v0/version", in.APIURL())
			in.Logf("%s", msg)
			in.tail(in.LogFile())
			return tagged(ErrNotReady, "%s", msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Wait waits until the API of the running daemon answers (StartTimeout).
func (in *Instance) Wait(ctx context.Context) error {
	if err := in.waitAPI(ctx, time.Now().Add(in.StartTimeout)); err != nil {
		return err
	}
	in.Logf("ready: API %s", in.APIURL())
	return nil
}

// Stop sends SIGTERM to the daemon (SIGKILL after StopTimeout) and waits
// until it is gone. Idempotent.
func (in *Instance) Stop(ctx context.Context) error {
	f := in.pidFile()
	f.Adopt(in.Logf)
	return proc.Stop(ctx, syscall.SIGTERM, in.StopTimeout, in.Logf, f)
}
