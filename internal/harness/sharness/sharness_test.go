package sharness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// suite makes a sharness folder with the scripts given (name: body).
func suite(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// passing is a script that reports n passed tests as sharness does.
func passing(n int) string {
	return fmt.Sprintf(`echo "ok 1 - one"; mkdir -p test-results
printf 'total %d\nsuccess %d\nfixed 0\nbroken 0\nfailed 0\n\n' >"test-results/${0#./}.$$.counts"
`, n, n)
}

func TestSelectTakesTheNamedScriptsOrAllInOrder(t *testing.T) {
	dir := suite(t, map[string]string{"t0020-b.sh": "", "t0010-a.sh": "", "helper.sh": ""})
	got, err := Select(dir, nil)
	if err != nil || !slices.Equal(got, []string{"t0010-a.sh", "t0020-b.sh"}) {
		t.Fatalf("all: %q, %v", got, err)
	}
	got, err = Select(dir, []string{"sharness/t0020-b.sh"})
	if err != nil || !slices.Equal(got, []string{"t0020-b.sh"}) {
		t.Fatalf("named: %q, %v", got, err)
	}
	if _, err := Select(dir, []string{"t0099-none.sh"}); err == nil || !strings.Contains(err.Error(), "no such test: t0099-none.sh") {
		t.Errorf("missing test: %v", err)
	}
	if _, err := Select(t.TempDir(), nil); err == nil {
		t.Error("an empty folder gave no error")
	}
}

func TestNeedsCassandraWhenAScriptRequiresIt(t *testing.T) {
	dir := suite(t, map[string]string{"t1.sh": "echo\n", "t2.sh": "test_cassandra_require\n"})
	if need, err := NeedsCassandra(dir, []string{"t1.sh"}); err != nil || need {
		t.Errorf("t1: %v %v", need, err)
	}
	if need, err := NeedsCassandra(dir, []string{"t1.sh", "t2.sh"}); err != nil || !need {
		t.Errorf("t1 t2: %v %v", need, err)
	}
}

func TestAggregateSumsAndNamesTheFailedScripts(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"t1.11.counts": "total 3\nsuccess 3\nfixed 0\nbroken 0\nfailed 0\n\n",
		"t2.22.counts": "total 4\nsuccess 2\nfixed 0\nbroken 1\nfailed 1\n\n",
		"t3.0.counts":  diedCounts,
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Aggregate(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.WriteSummary(&b)
	want := "\nfailed test(s): t2 t3\n\nfixed   0\nsuccess 5\nfailed  2\nbroken  1\ntotal   8\n"
	if b.String() != want {
		t.Errorf("summary:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestExplainShowsTheOutputBeforeEachFailureAndTheLogs(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "test-results")
	peer := filepath.Join(dir, "trash directory.t9", "p")
	for _, d := range []string{results, peer} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := "setup\nok 1 - fine\nexpecting success: false\nnot ok 2 - broken\nafter\n"
	if err := os.WriteFile(filepath.Join(results, "t9.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(peer, "daemon.log"), []byte("peer said this\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Explain(&b, dir, results, "t9")
	want := "--- t9: the verbose output before each failure ---\nexpecting success: false\n\nnot ok 2 - broken\n\n" +
		"--- the last 30 lines of t9/p/daemon.log ---\npeer said this\n"
	if b.String() != want {
		t.Errorf("explain:\n%s\nwant\n%s", b.String(), want)
	}
}

func run(t *testing.T, r *Runner, tests ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	r.Stdout, r.Start = &out, time.Now()
	if r.Timeout == 0 {
		r.Timeout = time.Minute
	}
	r.Logf = func(f string, a ...any) { out.WriteString("LOG " + f + "\n") }
	code, err := r.Run(context.Background(), tests)
	if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

func TestRunPassesWhenEveryScriptPasses(t *testing.T) {
	dir := suite(t, map[string]string{"t1.sh": passing(2), "t2.sh": passing(1)})
	code, out := run(t, &Runner{Dir: dir}, "t1.sh", "t2.sh")
	if code != ExitOK || !strings.Contains(out, "sharness: 3 passed, 0 failed, 0 skipped") ||
		!strings.Contains(out, "*** t1.sh: exit 0 in") || !strings.Contains(out, "2 script(s), 3 test(s)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "test-results", "t1.out")); err != nil || string(b) != "ok 1 - one\n" {
		t.Errorf("t1.out: %q %v", b, err)
	}
}

func TestRunFailsOnADeadScriptAndOnASkip(t *testing.T) {
	dir := suite(t, map[string]string{"t1.sh": passing(1), "t2.sh": "echo dying; exit 3\n",
		"t3.sh": "echo 'ok 1 # skip no kubo'\n" + passing(1)})
	code, out := run(t, &Runner{Dir: dir}, "t1.sh", "t2.sh")
	if code != ExitFailed || !strings.Contains(out, "*** t2.sh: exit 3 in") ||
		!strings.Contains(out, "script(s) that exited non-zero: t2.sh") || !strings.Contains(out, "failed test(s): t2") {
		t.Errorf("dead script: exit %d:\n%s", code, out)
	}
	code, out = run(t, &Runner{Dir: dir}, "t3.sh")
	if code != ExitFailed || !strings.Contains(out, "sharness: 0 passed, 0 failed, 1 skipped") || !strings.Contains(out, "SHARNESS_ALLOW_SKIP") {
		t.Errorf("skip: exit %d:\n%s", code, out)
	}
	if code, out = run(t, &Runner{Dir: dir, AllowSkip: true}, "t3.sh"); code != ExitOK {
		t.Errorf("allowed skip: exit %d:\n%s", code, out)
	}
}

func TestRunEndsAScriptPastItsTimeout(t *testing.T) {
	dir := suite(t, map[string]string{"t1.sh": "sleep 30\n"})
	t0 := time.Now()
	code, out := run(t, &Runner{Dir: dir, Timeout: time.Second}, "t1.sh")
	if code != ExitFailed || !strings.Contains(out, "*** t1.sh: exit 124 in") || time.Since(t0) > 10*time.Second {
		t.Errorf("exit %d after %s:\n%s", code, time.Since(t0), out)
	}
}
