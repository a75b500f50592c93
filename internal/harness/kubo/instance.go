package kubo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Instance is one named kubo daemon of the command line (scripts/kubo.sh):
// its state lives in ParentDir/Name (repo/ = IPFS_PATH, daemon.pid,
// daemon.log, init.log, instance.conf, and the marker .kubo-sh-instance
// that `clean` asks for), the layout of the shell script before it, so
// that an instance started by either is seen by the other.
type Instance struct {
	Config
	Dir  string // ParentDir/Name
	Repo string // Dir/repo

	// Logf receives the progress messages (default: stderr with the
	// prefix "kubo.sh[NAME]: ").
	Logf func(format string, args ...any)
	// Tails receives the logs of a daemon or an init that failed;
	// Stdout and Stderr the output of `go build`.
	Tails, Stdout, Stderr io.Writer
	// Cmd names the command line in hints ("run 'Cmd stop' first").
	Cmd string
}

// marker is the file `start` leaves in the instance directory; `clean`
// deletes only directories that have it.
const marker = ".kubo-sh-instance"

// ErrRunning is returned by Start when the daemon or something else holds
// what it would start.
var ErrRunning = errors.New("already running")

// ErrNotReady is returned when the daemon did not answer in time or is
// not running; the reason and the daemon's log were already logged.
var ErrNotReady = errors.New("not ready")

func newInstance(c Config) *Instance {
	in := &Instance{
		Config: c,
		Dir:    filepath.Join(c.ParentDir, c.Name),
		Tails:  os.Stderr,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Cmd:    "scripts/kubo.sh",
	}
	in.Repo = filepath.Join(in.Dir, "repo")
	in.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "kubo.sh[%s]: %s\n", c.Name, fmt.Sprintf(format, args...))
	}
	return in
}

// APIURL is the base URL of the RPC API.
func (in *Instance) APIURL() string { return "http://127.0.0.1:" + strconv.Itoa(in.APIPort) }

// LogFile is the daemon's output.
func (in *Instance) LogFile() string { return filepath.Join(in.Dir, "daemon.log") }

// PID is the daemon's pid if it runs, else 0.
func (in *Instance) PID() int { return in.pidFile().Running() }

// ready tells whether the API answers (2 s at most).
func (in *Instance) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return APIReady(ctx, in.APIPort)
}

// Status is the status line (NAME api=… swarm=… pid=… STATE, STATE one of
// running, starting, stopped) and whether the daemon runs and answers.
func (in *Instance) Status(ctx context.Context) (string, bool) {
	f := in.pidFile()
	f.Adopt(in.Logf)
	pid, state, pidText := f.Running(), "stopped", "-"
	if pid != 0 {
		pidText, state = strconv.Itoa(pid), "starting"
		if in.ready(ctx) {
			state = "running"
		}
	}
	return fmt.Sprintf("%s api=127.0.0.1:%d swarm=127.0.0.1:%d pid=%s %s", in.Name, in.APIPort, in.SwarmPort, pidText, state),
		state == "running"
}

// EnvVar is one variable of Env.
type EnvVar struct{ Name, Value string }

// Env is what a test reads to reach the daemon.
func (in *Instance) Env() []EnvVar {
	return []EnvVar{
		{"IPFS_PATH", in.Repo},
		{"KUBO_BIN", in.Bin},
		{"KUBO_API_MULTIADDR", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", in.APIPort)},
		{"KUBO_API_URL", in.APIURL()},
		{"KUBO_SWARM_MULTIADDR", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", in.SwarmPort)},
		{"KUBO_PID_FILE", in.pidFile().Path},
		{"IPFS_TELEMETRY", "off"},
	}
}

// Clean stops the daemon, then deletes the instance directory: only a
// directory right inside ParentDir that `start` made.
func (in *Instance) Clean(ctx context.Context) error {
	parent, real := realpath(in.ParentDir), realpath(in.Dir)
	rest, inside := strings.CutPrefix(real, parent+"/")
	if parent == "/" || !inside || rest == "" || strings.Contains(rest, "/") {
		return bad("refusing to delete %s: not an instance directory inside %s", real, parent)
	}
	if err := in.Stop(ctx); err != nil {
		return err
	}
	if st, err := os.Stat(real); err == nil && st.IsDir() {
		if _, err := os.Stat(filepath.Join(real, marker)); err != nil {
			return bad("refusing to delete %s: it was not made by %s start", real, in.Cmd)
		}
		if err := os.RemoveAll(real); err != nil {
			return err
		}
	}
	in.Logf("removed %s", real)
	return nil
}

// realpath is `realpath -m`: absolute, symbolic links of the part that
// exists resolved, the rest cleaned.
func realpath(p string) string {
	p, _ = filepath.Abs(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, base := filepath.Split(p)
	if dir == "/" || dir == "" {
		return p
	}
	return filepath.Join(realpath(filepath.Clean(dir)), base)
}

func secs(t0 time.Time) int { return int(time.Since(t0).Seconds()) }

// tail writes the last 60 lines of the file (if not empty) to in.Tails.
func (in *Instance) tail(path string) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) > 0 {
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		fmt.Fprintf(in.Tails, "\n===== %s: last 60 lines of %s =====\n%s\n", in.Name, path, strings.Join(lines, "\n"))
	}
	fmt.Fprintln(in.Tails)
}
