package deps

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

const goDownload = "https://go.dev/dl/"

var (
	goDirective = regexp.MustCompile(`(?m)^go ([0-9][0-9.]*)`)
	goVersion   = regexp.MustCompile(`^go([0-9.]*)`)
	java17Line  = regexp.MustCompile(`"17[."]`)
)

// GoModVersion is the version of the go directive of the repository's
// go.mod.
func (d *Deps) GoModVersion() (string, error) {
	path := filepath.Join(d.Root, "go.mod")
	mod, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := goDirective.FindSubmatch(mod)
	if m == nil {
		return "", missing("no go directive in %s", path)
	}
	return string(m[1]), nil
}

// CheckGo checks that Go (go on PATH) is at least the go.mod's version,
// and returns its GOVERSION.
func (d *Deps) CheckGo(ctx context.Context) (string, error) {
	want, err := d.GoModVersion()
	if err != nil {
		return "", err
	}
	goBin, ok := d.lookPath("go")
	if !ok {
		return "", missing("Go is not installed: install Go %s or newer from %s (Debian's golang package is older)", want, goDownload)
	}
	full, err := output(ctx, false, goBin, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	have := ""
	if m := goVersion.FindStringSubmatch(full); m != nil {
		have = m[1]
	}
	if !versionAtLeast(have, want) {
		return "", missing("Go %s is older than the go.mod's %s: install Go %s or newer from %s", have, want, want, goDownload)
	}
	return full, nil
}

// versionAtLeast tells whether the dotted version have is want or newer
// (a missing part counts as 0).
func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := 0; i < max(len(h), len(w)); i++ {
		a, b := part(h, i), part(w, i)
		if a != b {
			return a > b
		}
	}
	return true
}

func part(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	n, _ := strconv.Atoi(parts[i])
	return n
}

// Java17Path is the java of scripts/cassandra.sh: CASSANDRA_JAVA, else
// Debian's OpenJDK 17 of this architecture.
func (d *Deps) Java17Path(ctx context.Context) string {
	if j := d.Getenv("CASSANDRA_JAVA"); j != "" {
		return j
	}
	arch := "amd64"
	if dpkg, ok := d.lookPath("dpkg"); ok {
		if a, err := output(ctx, false, dpkg, "--print-architecture"); err == nil && a != "" {
			arch = a
		}
	}
	return "/usr/lib/jvm/java-17-openjdk-" + arch + "/bin/java"
}

// Java17 tells whether Java17Path and the javac beside it are there and
// the java is version 17.
func (d *Deps) Java17(ctx context.Context) bool {
	java := d.Java17Path(ctx)
	if !executable(java) || !executable(filepath.Join(filepath.Dir(java), "javac")) {
		return false
	}
	out, _ := output(ctx, true, java, "-version")
	first, _, _ := strings.Cut(out, "\n")
	return java17Line.MatchString(first)
}

// CheckJava fails with ErrMissing unless Java17 holds.
func (d *Deps) CheckJava(ctx context.Context) error {
	if !d.Java17(ctx) {
		return missing("OpenJDK 17 (java and javac) not found at %s: install openjdk-17-jdk-headless, or set CASSANDRA_JAVA to a Java 17 binary", d.Java17Path(ctx))
	}
	return nil
}

// CheckAll checks the packages, Go and Java, and says what it found.
func (d *Deps) CheckAll(ctx context.Context) error {
	if err := d.CheckPackages(ctx); err != nil {
		return err
	}
	goVer, err := d.CheckGo(ctx)
	if err != nil {
		return err
	}
	if err := d.CheckJava(ctx); err != nil {
		return err
	}
	want, _ := d.GoModVersion()
	d.Logf("ok: Debian packages, Go %s (go.mod: %s), OpenJDK 17 (%s)", goVer, want, d.Java17Path(ctx))
	return nil
}
