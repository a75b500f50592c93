package deps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fakeMachine is a machine made of stubs in a temporary directory: every
// command of DebianPackages on its PATH, Debian's sharness files, a Java 17
// (CASSANDRA_JAVA), a go that says go1.99.0, a repository whose go.mod
// wants 1.26, and no Cassandra instance (CASSANDRA_RUN_DIR is empty).
type fakeMachine struct {
	*Deps
	dir     string
	env     map[string]string
	out     bytes.Buffer // Stdout
	log     bytes.Buffer // Logf, as deps.sh prints it
	fetched int          // calls of FetchJars
}

func newFakeMachine(t *testing.T) *fakeMachine {
	t.Helper()
	dir := t.TempDir()
	m := &fakeMachine{dir: dir, env: map[string]string{
		"PATH":              filepath.Join(dir, "path"),
		"CASSANDRA_JAVA":    filepath.Join(dir, "jdk", "bin", "java"),
		"CASSANDRA_RUN_DIR": filepath.Join(dir, "run"),
		"DEPS_BIN_DIR":      filepath.Join(dir, "bin"),
		"TMPDIR":            filepath.Join(dir, "tmp"),
	}}
	for _, p := range DebianPackages {
		switch {
		case p.Command != "":
			m.stub(t, "path/"+p.Command, "exit 0")
		case p.File != "":
			m.file(t, "root"+p.File, "")
		}
	}
	m.file(t, "root"+sharnessAggregate, "")
	m.stub(t, "path/go", "echo go1.99.0")
	m.java(t, "17.0.9")
	m.file(t, "repo/go.mod", "module example.com/x\n\ngo 1.26\n")
	m.Deps = &Deps{
		Root:     filepath.Join(dir, "repo"),
		Getenv:   func(k string) string { return m.env[k] },
		UID:      1000,
		Sysroot:  filepath.Join(dir, "root"),
		Stdout:   &m.out,
		Stderr:   &m.log,
		Packages: DebianPackages,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(&m.log, "deps.sh: %s\n", fmt.Sprintf(format, args...))
		},
		FetchJars: func(context.Context) error { m.fetched++; return nil },
	}
	return m
}

// file writes a file under the machine's directory.
func (m *fakeMachine) file(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(m.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// stub writes an executable shell script with the body under the
// machine's directory.
func (m *fakeMachine) stub(t *testing.T, rel, body string) string {
	t.Helper()
	return m.file(t, rel, "#!/bin/sh\n"+body+"\n")
}

// java makes CASSANDRA_JAVA and its javac say the version as OpenJDK does.
func (m *fakeMachine) java(t *testing.T, version string) {
	t.Helper()
	say := fmt.Sprintf(`echo 'openjdk version "%s" 2023-10-17' >&2`, version)
	m.stub(t, "jdk/bin/java", say)
	m.stub(t, "jdk/bin/javac", say)
}

// remove deletes a file of the machine (a command, a file of a package).
func (m *fakeMachine) remove(t *testing.T, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(m.dir, rel)); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is of the kind and reads as the user sees it.
func wantErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", msg)
	}
	if got := err.Error(); got != msg {
		t.Fatalf("error:\n got %q\nwant %q", got, msg)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Fatalf("error %q is not %v", err, kind)
	}
}

// wantLog checks what the user read on stderr.
func (m *fakeMachine) wantLog(t *testing.T, want string) {
	t.Helper()
	if got := m.log.String(); got != want {
		t.Fatalf("messages:\n got %q\nwant %q", got, want)
	}
}
