package sharness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Counts are the totals sharness writes at test_done into
// test-results/NAME.PID.counts, one "KEY N" a line.
type Counts struct {
	Fixed, Success, Failed, Broken, Total int
	// FailedTests names the scripts with failed tests, in file order.
	FailedTests []string
}

// diedCounts is what a script that died before test_done is counted as:
// one failed test.
const diedCounts = "total 1\nsuccess 0\nfixed 0\nbroken 0\nfailed 1\n\n"

var countsName = regexp.MustCompile(`^(.*)\.[0-9]*\.counts$`)

// Aggregate sums the *.counts files of results (a folder), as
// aggregate-results.sh of sharness does.
func Aggregate(results string) (Counts, error) {
	var c Counts
	files, err := filepath.Glob(filepath.Join(results, "*.counts"))
	if err != nil {
		return c, fmt.Errorf("listing the counts: %w", err)
	}
	sort.Strings(files)
	for _, f := range files {
		if err := c.add(f); err != nil {
			return c, err
		}
	}
	return c, nil
}

// add adds the counts of file f.
func (c *Counts) add(f string) error {
	fh, err := os.Open(f)
	if err != nil {
		return fmt.Errorf("reading the counts: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		switch fields[0] {
		case "fixed":
			c.Fixed += n
		case "success":
			c.Success += n
		case "failed":
			c.Failed += n
			if m := countsName.FindStringSubmatch(filepath.Base(f)); n != 0 && m != nil {
				c.FailedTests = append(c.FailedTests, m[1])
			}
		case "broken":
			c.Broken += n
		case "total":
			c.Total += n
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", f, err)
	}
	return nil
}

// WriteSummary writes the counts as aggregate-results.sh prints them.
func (c Counts) WriteSummary(w io.Writer) {
	if len(c.FailedTests) > 0 {
		fmt.Fprintf(w, "\nfailed test(s): %s\n\n", strings.Join(c.FailedTests, " "))
	}
	for _, kv := range []struct {
		k string
		n int
	}{{"fixed", c.Fixed}, {"success", c.Success}, {"failed", c.Failed}, {"broken", c.Broken}, {"total", c.Total}} {
		fmt.Fprintf(w, "%-8s%d\n", kv.k, kv.n)
	}
}

var skipRE = regexp.MustCompile(`^ok [0-9]+ # skip`)

// Skipped is the TAP lines of the *.out files of results that tell of a
// test skipped (sharness counts those as successes).
func Skipped(results string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(results, "*.out"))
	if err != nil {
		return nil, fmt.Errorf("listing the outputs: %w", err)
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading the outputs: %w", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if skipRE.MatchString(l) {
				out = append(out, l)
			}
		}
	}
	return out, nil
}
