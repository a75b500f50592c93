package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/deps"
)

// depsRun runs the built harness's deps command as scripts/deps.sh does
// (HARNESS_ROOT set) with the extra environment, under the prefix command
// (e.g. setpriv) if any; it returns stdout, stderr and the exit status.
func depsRun(t *testing.T, harness string, prefix, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append(append(prefix, harness, "deps"), args...)
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = append(append(os.Environ(), "HARNESS_ROOT="+root), env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err = c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), c.ProcessState.ExitCode()
}

// buildHarness builds this command into a directory any user may read.
func buildHarness(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "harness-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "harness")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDepsCommand checks what a user of scripts/deps.sh sees.
func TestDepsCommand(t *testing.T) {
	harness := buildHarness(t)

	t.Run("an unknown command exits 1 naming the commands", func(t *testing.T) {
		_, stderr, code := depsRun(t, harness, nil, nil, "chekc")
		if want := "deps.sh: ERROR: unknown command 'chekc' (install, check, preflight [test|demo], built, help)\n"; code != 1 || stderr != want {
			t.Fatalf("exit %d, stderr %q; want 1, %q", code, stderr, want)
		}
	})

	t.Run("help lists the commands and the environment", func(t *testing.T) {
		stdout, _, code := depsRun(t, harness, nil, nil, "help")
		for _, w := range []string{"scripts/deps.sh install", "scripts/deps.sh check", "scripts/deps.sh preflight [test|demo]",
			"scripts/deps.sh built", "CASSANDRA_JAVA", "DEPS_MIN_FREE_MB [2048]", "DEPS_BIN_DIR [<repo>/bin]"} {
			if code != 0 || !strings.Contains(stdout, w) {
				t.Fatalf("exit %d, help %q lacks %q", code, stdout, w)
			}
		}
	})

	t.Run("built fails at once when kubo is not built", func(t *testing.T) {
		empty := t.TempDir()
		_, stderr, code := depsRun(t, harness, nil, []string{"DEPS_BIN_DIR=" + empty}, "built")
		if want := "deps.sh: ERROR: kubo is not built (" + empty + "/ipfs): run make kubo\n"; code != 1 || stderr != want {
			t.Fatalf("exit %d, stderr %q; want 1, %q", code, stderr, want)
		}
	})

	t.Run("without root, a missing package gives the one sudo apt-get line and exit 1", func(t *testing.T) {
		var prefix []string
		if os.Getuid() == 0 {
			setpriv, err := exec.LookPath("setpriv")
			if err != nil {
				t.Fatal("running as root, and setpriv (util-linux) is needed to run as nobody:", err)
			}
			prefix = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp"}
		}
		if _, err := exec.LookPath("apt-get"); err != nil {
			t.Fatal("this test needs a Debian-like system (apt-get):", err)
		}
		java := "CASSANDRA_JAVA=/nonexistent/bin/java"
		want := expectedMissing(t, java)
		stdout, stderr, code := depsRun(t, harness, prefix, []string{java}, "install")
		if code != 1 || stdout != "sudo apt-get install -y --no-install-recommends "+want+"\n" ||
			stderr != "deps.sh: missing Debian packages: "+want+". Install them with:\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and the sudo line for %q", code, stdout, stderr, want)
		}
	})
}

// expectedMissing is the list of the packages missing on this machine with
// the extra variable set, as the deps package sees it.
func expectedMissing(t *testing.T, kv string) string {
	t.Helper()
	k, v, _ := strings.Cut(kv, "=")
	d := deps.New("")
	d.Getenv = func(name string) string {
		if name == k {
			return v
		}
		return os.Getenv(name)
	}
	need := d.Missing(context.Background())
	if len(need) == 0 {
		t.Fatalf("nothing missing with %s", kv)
	}
	return strings.Join(need, " ")
}
