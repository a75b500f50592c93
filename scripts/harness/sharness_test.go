package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSharnessCassandraModeIsCheckedAndAutoReadsTheScripts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t1.sh"), []byte("test_cassandra_require\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t2.sh"), []byte("echo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode  string
		tests []string
		want  bool
	}{{"1", []string{"t2.sh"}, true}, {"0", []string{"t1.sh"}, false}, {"auto", []string{"t1.sh"}, true}, {"auto", []string{"t2.sh"}, false}} {
		if got, err := sharnessNeedsCassandra(c.mode, dir, c.tests); got != c.want || err != nil {
			t.Errorf("mode %s, %q: %v, %v", c.mode, c.tests, got, err)
		}
	}
	if _, err := sharnessNeedsCassandra("yes", dir, nil); err == nil || !strings.Contains(err.Error(), "SHARNESS_CASSANDRA must be auto, 1 or 0 (got 'yes')") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestSharnessStartIsTheRecordedStartOrNow(t *testing.T) {
	env := map[string]string{"SHARNESS_T0": "1700000000"}
	e := clusterEnv{getenv: func(k string) string { return env[k] }}
	if t0, err := sharnessStart(e); err != nil || t0.Unix() != 1700000000 {
		t.Errorf("recorded: %v, %v", t0, err)
	}
	env["SHARNESS_T0"] = "soon"
	if _, err := sharnessStart(e); err == nil || !strings.Contains(err.Error(), "SHARNESS_T0") {
		t.Errorf("bad value: %v", err)
	}
}
