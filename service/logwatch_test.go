//go:build scylla && integration

package service_test

import (
	"bufio"
	"strings"
	"sync"
	"testing"

	logging "github.com/ipfs/go-log/v2"
)

// logWatch keeps the lines a subsystem logs at info or above while a
// test runs: what an operator reads in the daemon's log.
type logWatch struct {
	mu    sync.Mutex
	lines []string
}

// watchLog logs subsystem at info level until the test ends and keeps
// its lines.
func watchLog(t *testing.T, subsystem string) *logWatch {
	t.Helper()
	old, err := logging.SubsystemLevelName(subsystem)
	if err != nil {
		t.Fatal(err)
	}
	if err := logging.SetLogLevel(subsystem, "info"); err != nil {
		t.Fatal(err)
	}
	pipe := logging.NewPipeReader(logging.PipeFormat(logging.PlaintextOutput), logging.PipeLevel(logging.LevelInfo))
	w := &logWatch{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, subsystem) {
				w.mu.Lock()
				w.lines = append(w.lines, line)
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = pipe.Close()
		<-done
		_ = logging.SetLogLevel(subsystem, old)
	})
	return w
}

// line returns the first line holding needle, or "".
func (w *logWatch) line(needle string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if strings.Contains(l, needle) {
			return l
		}
	}
	return ""
}

// count returns the number of lines holding needle.
func (w *logWatch) count(needle string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if strings.Contains(l, needle) {
			n++
		}
	}
	return n
}
