package cassandra

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

const dependencyPlugin = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"

// fetched tells whether Lib holds the jars of Version.
func (in *Instance) fetched() bool {
	b, err := os.ReadFile(filepath.Join(in.Lib, ".complete"))
	return err == nil && strings.TrimSpace(string(b)) == in.Version
}

// Fetch resolves cassandra-all and its runtime dependencies into Lib with
// Maven (once per version; concurrent fetches wait for each other).
func (in *Instance) Fetch(ctx context.Context) error {
	if in.fetched() {
		return nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return fmt.Errorf("mvn (Maven) is required to fetch Cassandra: %w", err)
	}
	if err := os.MkdirAll(in.CacheDir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(in.CacheDir, ".fetch.lock"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if in.fetched() {
		return nil
	}
	in.Logf("fetching org.apache.cassandra:cassandra-all:%s and its runtime dependencies into %s", in.Version, in.Lib)
	pom := filepath.Join(in.CacheDir, "pom.xml")
	if err := os.WriteFile(pom, render("pom.xml", map[string]string{"VERSION": in.Version}), 0o644); err != nil {
		return err
	}
	tmp := in.Lib + ".tmp"
	_ = os.RemoveAll(tmp)
	logPath := filepath.Join(in.CacheDir, "fetch.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-Dstyle.color=never", "-f", pom,
		"-Dmaven.repo.local="+filepath.Join(in.CacheDir, "m2"), dependencyPlugin,
		"-DincludeScope=runtime", "-DoutputDirectory="+tmp)
	cmd.Env = append(os.Environ(), "JAVA_HOME="+filepath.Dir(filepath.Dir(in.Java)))
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Run()
	logf.Close()
	if err != nil {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(strings.TrimRight(string(b), "\n"), ""), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		fmt.Fprintln(in.Tails, strings.Join(lines, "\n"))
		return fmt.Errorf("maven failed to resolve cassandra-all:%s (full log: %s): %w", in.Version, logPath, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "cassandra-all-"+in.Version+".jar")); err != nil {
		return fmt.Errorf("maven finished but %s/cassandra-all-%s.jar is missing", tmp, in.Version)
	}
	if m, _ := filepath.Glob(filepath.Join(tmp, "jamm-*.jar")); len(m) == 0 {
		return fmt.Errorf("maven finished but no jamm jar in %s", tmp)
	}
	_ = os.RemoveAll(in.Lib)
	if err := os.Rename(tmp, in.Lib); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(in.Lib, ".complete"), []byte(in.Version+"\n"), 0o644); err != nil {
		return err
	}
	jars, _ := filepath.Glob(filepath.Join(in.Lib, "*.jar"))
	var size int64
	for _, j := range jars {
		if st, err := os.Stat(j); err == nil {
			size += st.Size()
		}
	}
	in.Logf("fetched %d jars (%dM)", len(jars), size>>20)
	return nil
}
