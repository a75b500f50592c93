// Package deps checks, and installs, what `make test` and `make demo` need
// on this machine: the Debian packages (each known by a command or a file
// it provides), Go (at least the go.mod's version) and OpenJDK 17 for
// Cassandra (packages.go, install.go, toolchain.go); before the long part
// of a run, the database ports, the disk space and Cassandra's jars
// (preflight.go); after a build, kubo and the cluster binaries (built.go).
// scripts/deps.sh is its command line (scripts/harness).
package deps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
)

// Errors of the checks; the message of each names what is missing and how
// to get it.
var (
	// ErrMissing: something the tests need is absent or too old.
	ErrMissing = errors.New("missing")
	// ErrNeedsRoot: Install has packages to install but does not run as
	// root; it has printed the one sudo line that installs them.
	ErrNeedsRoot = errors.New("installing packages needs root")
)

// Timeouts of the programs the checks run.
const (
	// probeTimeout bounds a version query (go env, java -version, ipfs version).
	probeTimeout = 30 * time.Second
	// aptTimeout bounds apt-get update and apt-get install.
	aptTimeout = 30 * time.Minute
	// fetchTimeout bounds the download of Cassandra's jars (about 100 MB).
	fetchTimeout = 30 * time.Minute
)

// Deps is one machine's view: where the repository is, the environment it
// reads and where it reports.
type Deps struct {
	Root   string              // the repository (go.mod, bin/)
	Getenv func(string) string // the environment (PATH, CASSANDRA_JAVA, DEPS_*, ...)
	UID    int                 // Install runs apt-get only as root (0)
	// Sysroot prefixes the files the package probes look for ("": /).
	Sysroot string
	// Stdout receives the sudo line of Install and apt-get's output,
	// Stderr apt-get's errors.
	Stdout, Stderr io.Writer
	// Logf receives the progress and result messages.
	Logf func(format string, args ...any)
	// Packages are the Debian packages checked (default DebianPackages).
	Packages []Package
	// FetchJars makes sure Cassandra's jars are cached (default: the
	// Fetch of the instance that scripts/cassandra.sh names).
	FetchJars func(ctx context.Context) error
}

// New is the view of this process: its environment, user, stdout and
// stderr; messages go to stderr prefixed "deps.sh: ".
func New(root string) *Deps {
	d := &Deps{
		Root:     root,
		Getenv:   os.Getenv,
		UID:      os.Getuid(),
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Packages: DebianPackages,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "deps.sh: %s\n", fmt.Sprintf(format, args...))
		},
	}
	d.FetchJars = d.fetchJars
	return d
}

// fetchJars fetches the jars of the Cassandra instance of the environment.
func (d *Deps) fetchJars(ctx context.Context) error {
	in, err := cassandra.Load(d.Getenv, cassandra.ForOther)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	return in.Fetch(ctx)
}

// checkError is the error of a failed check: its message is what the
// user reads, and it matches its sentinel (ErrMissing, ErrNeedsRoot).
type checkError struct {
	msg  string
	kind error
}

func (e *checkError) Error() string        { return e.msg }
func (e *checkError) Is(target error) bool { return target == e.kind }

// missing makes an ErrMissing error.
func missing(format string, args ...any) error {
	return &checkError{fmt.Sprintf(format, args...), ErrMissing}
}

// lookPath finds an executable named name in the PATH of Getenv.
func (d *Deps) lookPath(name string) (string, bool) {
	for _, dir := range filepath.SplitList(d.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, name); executable(p) {
			return p, true
		}
	}
	return "", false
}

// executable tells whether path is a file with an execute bit.
func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode().Perm()&0o111 != 0
}

// output runs bin with args (within probeTimeout) and returns its standard
// output (with stderr too when combined), trailing newlines removed.
func output(ctx context.Context, combined bool, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	var out []byte
	var err error
	if combined {
		out, err = c.CombinedOutput()
	} else {
		out, err = c.Output()
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	return strings.TrimRight(string(out), "\n"), nil
}
