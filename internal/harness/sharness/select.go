package sharness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// RequireMarker is the call by which a test script says it needs the
// database (lib/test-lib.sh's test_cassandra_require).
const RequireMarker = "test_cassandra_require"

// Select is the test scripts to run from dir: the ones named in args
// (their base names; each must exist in dir), or else every t[0-9]*.sh of
// dir in name order.
func Select(dir string, args []string) ([]string, error) {
	var tests []string
	for _, a := range args {
		t := filepath.Base(a)
		if fi, err := os.Stat(filepath.Join(dir, t)); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("no such test: %s", t)
		}
		tests = append(tests, t)
	}
	if len(args) == 0 {
		all, err := filepath.Glob(filepath.Join(dir, "t[0-9]*.sh"))
		if err != nil {
			return nil, fmt.Errorf("listing the tests: %w", err)
		}
		for _, t := range all {
			if fi, err := os.Stat(t); err == nil && fi.Mode().IsRegular() {
				tests = append(tests, filepath.Base(t))
			}
		}
		sort.Strings(tests)
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("no test scripts (t*.sh) in %s", dir)
	}
	return tests, nil
}

// NeedsCassandra tells whether one of the tests (in dir) calls
// RequireMarker.
func NeedsCassandra(dir string, tests []string) (bool, error) {
	for _, t := range tests {
		b, err := os.ReadFile(filepath.Join(dir, t))
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", t, err)
		}
		if bytes.Contains(b, []byte(RequireMarker)) {
			return true, nil
		}
	}
	return false, nil
}
