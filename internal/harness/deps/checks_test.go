package deps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPassesAndNamesGoAndJava17(t *testing.T) {
	m := newFakeMachine(t)
	if err := m.CheckAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.wantLog(t, "deps.sh: ok: Debian packages, Go go1.99.0 (go.mod: 1.26), OpenJDK 17 ("+m.env["CASSANDRA_JAVA"]+")\n")
}

func TestCheckNamesTheMissingPackagesAndTheLineThatInstallsThem(t *testing.T) {
	m := newFakeMachine(t)
	m.remove(t, "path/jq")
	m.remove(t, "root/usr/share/sharness/sharness.sh")
	wantErr(t, m.CheckAll(context.Background()), ErrMissing,
		"missing Debian packages: jq sharness (make deps installs them; or: sudo apt-get install -y --no-install-recommends jq sharness)")
}

func TestInstallWithoutRootPrintsTheOneSudoLine(t *testing.T) {
	m := newFakeMachine(t)
	m.stub(t, "path/apt-get", "exit 0")
	m.remove(t, "path/make")
	m.env["CASSANDRA_JAVA"] = "/nonexistent/bin/java"
	wantErr(t, m.Install(context.Background()), ErrNeedsRoot, "not root: run the line above")
	if got, want := m.out.String(), "sudo apt-get install -y --no-install-recommends make openjdk-17-jdk-headless\n"; got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	m.wantLog(t, "deps.sh: missing Debian packages: make openjdk-17-jdk-headless. Install them with:\n")
}

func TestInstallAsRootRunsAptGetAndChecksAgain(t *testing.T) {
	m := newFakeMachine(t)
	m.UID = 0
	calls := filepath.Join(m.dir, "apt-calls")
	// This apt-get "installs" jq.
	m.stub(t, "path/apt-get", `echo "$DEBIAN_FRONTEND $*" >>`+calls+`; [ "$1" = update ] || cp "$0" "$(dirname "$0")/jq"`)
	m.remove(t, "path/jq")
	if err := m.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if want := "noninteractive update -q\nnoninteractive install -y -q --no-install-recommends jq\n"; string(got) != want {
		t.Fatalf("apt-get calls:\n got %q\nwant %q", got, want)
	}
	m.wantLog(t, "deps.sh: installing jq\n")
}

func TestInstallAsRootFailsWhenAptGetFailsOrLeavesAPackageMissing(t *testing.T) {
	for _, c := range []struct{ apt, want string }{
		{"exit 0", "still missing after apt-get install: jq"},
		{"exit 100", "apt-get update: exit status 100"},
	} {
		m := newFakeMachine(t)
		m.UID = 0
		m.stub(t, "path/apt-get", c.apt)
		m.remove(t, "path/jq")
		wantErr(t, m.Install(context.Background()), nil, c.want)
	}
}

func TestInstallWithoutAptGetNamesTheMissingPackages(t *testing.T) {
	m := newFakeMachine(t)
	m.remove(t, "path/jq")
	wantErr(t, m.Install(context.Background()), ErrMissing,
		"missing: jq; this is not a Debian-like system (no apt-get): install their equivalents")
}

func TestInstallDoesNothingWhenAllIsThere(t *testing.T) {
	m := newFakeMachine(t)
	m.stub(t, "path/apt-get", "exit 1")
	if err := m.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.out.Len()+m.log.Len() != 0 {
		t.Fatalf("said %q %q", m.out.String(), m.log.String())
	}
}

func TestGoOlderThanTheGoModIsRefusedNamingBothVersions(t *testing.T) {
	m := newFakeMachine(t)
	m.stub(t, "path/go", "echo go1.20.3")
	wantErr(t, m.CheckAll(context.Background()), ErrMissing,
		"Go 1.20.3 is older than the go.mod's 1.26: install Go 1.26 or newer from https://go.dev/dl/")
}

func TestMissingGoIsNamed(t *testing.T) {
	m := newFakeMachine(t)
	m.remove(t, "path/go")
	wantErr(t, m.CheckAll(context.Background()), ErrMissing,
		"Go is not installed: install Go 1.26 or newer from https://go.dev/dl/ (Debian's golang package is older)")
}

func TestJavaOtherThan17IsRefused(t *testing.T) {
	m := newFakeMachine(t)
	m.java(t, "21.0.1")
	wantErr(t, m.CheckAll(context.Background()), ErrMissing,
		"missing Debian packages: openjdk-17-jdk-headless (make deps installs them; or: sudo apt-get install -y --no-install-recommends openjdk-17-jdk-headless)")
	wantErr(t, m.CheckJava(context.Background()), ErrMissing, "OpenJDK 17 (java and javac) not found at "+m.env["CASSANDRA_JAVA"]+
		": install openjdk-17-jdk-headless, or set CASSANDRA_JAVA to a Java 17 binary")
}

func TestJava17WithoutJavacIsRefused(t *testing.T) {
	m := newFakeMachine(t)
	m.remove(t, "jdk/bin/javac")
	if m.Java17(context.Background()) {
		t.Fatal("a java 17 without javac was taken for OpenJDK 17")
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		have, want string
		ok         bool
	}{
		{"1.26.8", "1.26", true}, {"1.26", "1.26.0", true}, {"1.26", "1.26", true},
		{"1.25.9", "1.26", false}, {"1.100", "1.26", true}, {"2.0", "1.26.3", true}, {"", "1.26", false},
	} {
		if got := versionAtLeast(c.have, c.want); got != c.ok {
			t.Errorf("versionAtLeast(%q, %q) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

func TestBuiltFailsAtOnceWhenKuboIsNotBuilt(t *testing.T) {
	m := newFakeMachine(t)
	bin := m.env["DEPS_BIN_DIR"]
	wantErr(t, m.Built(context.Background()), ErrMissing, "kubo is not built ("+bin+"/ipfs): run make kubo")
}

func TestBuiltNamesTheVersionsOfTheBinaries(t *testing.T) {
	m := newFakeMachine(t)
	m.stub(t, "bin/ipfs", `[ "$1" = version ] && echo "ipfs version 0.43.1"`)
	m.stub(t, "bin/ipfs-cluster-service", `[ "$1" = --version ] && echo "ipfs-cluster-service version 1.1.5"`)
	m.stub(t, "bin/ipfs-cluster-ctl", "exit 2")
	bin := m.env["DEPS_BIN_DIR"]
	wantErr(t, m.Built(context.Background()), ErrMissing, bin+"/ipfs-cluster-ctl is not built: run make build")
	m.stub(t, "bin/ipfs-cluster-ctl", `[ "$1" = --version ] && echo "ipfs-cluster-ctl version 1.1.5"`)
	if err := m.Built(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.wantLog(t, "deps.sh: ok: ipfs version 0.43.1, ipfs-cluster-service version 1.1.5, ipfs-cluster-ctl version 1.1.5 in "+bin+"\n")
}

func TestBinDirDefaultsToTheRepositorysBin(t *testing.T) {
	m := newFakeMachine(t)
	delete(m.env, "DEPS_BIN_DIR")
	if got, want := m.BinDir(), filepath.Join(m.Root, "bin"); got != want {
		t.Fatalf("BinDir %q, want %q", got, want)
	}
	if err := m.Built(context.Background()); err == nil || !strings.Contains(err.Error(), m.Root+"/bin/ipfs") {
		t.Fatalf("Built: %v", err)
	}
}
