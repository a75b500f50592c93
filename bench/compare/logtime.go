package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"
)

// logTimeLayout is how go-log (zap's ISO8601 encoder) stamps each line of
// ipfs-cluster-service, upstream's and ours: millisecond resolution.
const logTimeLayout = "2006-01-02T15:04:05.000Z0700"

// logTime parses the timestamp that starts a log line.
func logTime(line string) (time.Time, bool) {
	f, _, _ := strings.Cut(line, "\t")
	f, _, _ = strings.Cut(f, " ")
	t, err := time.Parse(logTimeLayout, strings.TrimSpace(f))
	return t, err == nil
}

// firstLogTime is the timestamp of the first line of the log at path
// that holds needle.
func firstLogTime(path, needle string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, needle) {
			t, ok := logTime(line)
			if !ok {
				return time.Time{}, fmt.Errorf("%s: the line with %q has no timestamp: %q", path, needle, line)
			}
			return t, nil
		}
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return time.Time{}, fmt.Errorf("%s has no line with %q", path, needle)
}

// sinceStart is the time from a process's start to a moment it logged.
// Log stamps have millisecond resolution and the start a finer one: a
// stamp up to 1 ms before the start is the same millisecond, not an error.
func sinceStart(started, logged time.Time) (time.Duration, bool) {
	d := logged.Sub(started)
	if d < -time.Millisecond {
		return 0, false
	}
	return max(d, 0), true
}
