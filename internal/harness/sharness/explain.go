package sharness

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Bounds of Explain.
const (
	explainFailures = 150 // lines of the verbose output before failures
	explainLogLine  = 30  // lines of each log
	explainLogs     = 200 // lines of all the logs
)

var tapRE = regexp.MustCompile(`^(ok|not ok) [0-9]`)

// Explain writes what the failed script name did: the verbose output
// before each failed test (from results/NAME.log), and the end of every
// peer's and kubo's log in its trash directory (kept on failure) in dir.
func Explain(w io.Writer, dir, results, name string) {
	fmt.Fprintf(w, "--- %s: the verbose output before each failure ---\n", name)
	b, _ := os.ReadFile(filepath.Join(results, name+".log"))
	var out, block []string
	for _, l := range splitLines(string(b)) {
		if !tapRE.MatchString(l) {
			block = append(block, l)
			continue
		}
		if strings.HasPrefix(l, "not ok") {
			out = append(out, block...)
			out = append(out, "", l, "")
		}
		block = nil
	}
	writeLast(w, out, explainFailures)
	trash := "trash directory." + name
	logs, _ := filepath.Glob(filepath.Join(dir, trash, "*", "*.log"))
	var tails []string
	for _, f := range logs {
		rel, _ := filepath.Rel(filepath.Join(dir, trash), f)
		tails = append(tails, fmt.Sprintf("--- the last %d lines of %s ---", explainLogLine, filepath.Join(name, rel)))
		lb, _ := os.ReadFile(f)
		lines := splitLines(string(lb))
		tails = append(tails, lines[max(0, len(lines)-explainLogLine):]...)
	}
	writeLast(w, tails, explainLogs)
}

// splitLines splits s into its lines (a last newline ends the last one).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// writeLast writes the last n of lines.
func writeLast(w io.Writer, lines []string, n int) {
	for _, l := range lines[max(0, len(lines)-n):] {
		fmt.Fprintln(w, l)
	}
}
