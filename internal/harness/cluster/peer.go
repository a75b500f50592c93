// Package cluster runs ipfs-cluster-service peers for the sharness suite
// and the demo: a peer's config folder made by the daemon's own `init`
// and kept on loopback, the daemon started detached and known by its pid
// file, waited for, stopped and killed; and a Session, the bookkeeping of
// what one test script started, so that all of it is stopped at its end.
//
// The layout of a peer's folder is that of sharness/lib/peers.sh before
// it (service.json, identity.json, init.log, daemon.log and daemon.log.1,
// daemon.pid and daemon.pid.start), so that a test reads the same files.
package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// ReadyLine is what a peer logs once its consensus and everything else is
// ready (its REST API answers earlier).
const ReadyLine = "IPFS Cluster is READY"

// ErrRunning is returned by Daemon when the peer already runs.
var ErrRunning = errors.New("already running")

// ErrNotRunning is returned when the peer is not (or no longer) running.
var ErrNotRunning = errors.New("not running")

// Peer is one ipfs-cluster-service peer whose config folder is Dir.
type Peer struct {
	Dir          string        // absolute
	Bin          string        // ipfs-cluster-service
	StartTimeout time.Duration // Wait's default
	StopTimeout  time.Duration // SIGTERM to SIGKILL
	// Logf receives the progress messages ("cluster peer DIR: pid N").
	Logf func(format string, args ...any)
	// Tails receives the end of the daemon's log when it failed, and the
	// output of an init that failed.
	Tails io.Writer
	// Ports, when set, hands out the listen ports of a peer initialised
	// with --randomports (Init moves them there): init's random ports lie
	// in the kernel's ephemeral range, where an outgoing connection can
	// take one before the daemon binds it ("address already in use").
	Ports func() (int, error)
}

// NewPeer is the peer of the folder dir, run with bin, with the defaults
// of peers.sh (60 s to start, 30 s to stop), messages to stdout and log
// tails to stderr.
func NewPeer(dir, bin string) (*Peer, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("peer folder %s: %w", dir, err)
	}
	return &Peer{
		Dir:          abs,
		Bin:          bin,
		StartTimeout: 60 * time.Second,
		StopTimeout:  30 * time.Second,
		Logf:         func(format string, args ...any) { fmt.Printf(format+"\n", args...) },
		Tails:        os.Stderr,
	}, nil
}

// ConfigFile is the peer's service.json.
func (p *Peer) ConfigFile() string { return filepath.Join(p.Dir, "service.json") }

// LogFile is the daemon's output (the one before it: LogFile().1).
func (p *Peer) LogFile() string { return filepath.Join(p.Dir, "daemon.log") }

// pidFile is the daemon's pid file; its argv word (--config DIR) tells the
// daemon from any other process when the start time is missing.
func (p *Peer) pidFile() proc.PIDFile {
	return proc.PIDFile{Label: "cluster peer " + p.Dir, Path: filepath.Join(p.Dir, "daemon.pid"), Word: p.Dir}
}

// PID is the daemon's pid if it runs, else 0.
func (p *Peer) PID() int { return p.pidFile().Running() }

// recordedPID is the pid in the pid file, running or not ("none").
func (p *Peer) recordedPID() string {
	b, err := os.ReadFile(p.pidFile().Path)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "none"
	}
	return strings.TrimSpace(string(b))
}

// Tail writes the last 60 lines of the daemon's log to p.Tails.
func (p *Peer) Tail() {
	fmt.Fprintf(p.Tails, "===== last 60 lines of %s =====\n", p.LogFile())
	b, err := os.ReadFile(p.LogFile())
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	fmt.Fprintln(p.Tails, strings.Join(lines, "\n"))
}

// CheckRunning fails with ErrNotRunning, after the end of the log, when
// the daemon does not run.
func (p *Peer) CheckRunning() error {
	if p.PID() != 0 {
		return nil
	}
	err := fmt.Errorf("cluster peer in %s (pid %s) is %w", p.Dir, p.recordedPID(), ErrNotRunning)
	fmt.Fprintln(p.Tails, err)
	p.Tail()
	return err
}
