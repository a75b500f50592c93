// Package settings is what the harness's instances share to read their
// settings: values of environment variables checked with messages that
// name the variable, and the KEY=VALUE file (instance.conf) in which an
// instance records its settings for the commands that come after.
package settings

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// taggedError is a message that matches its sentinel with errors.Is (the
// sentinel's text stays out of the message the command line prints).
type taggedError struct {
	sentinel error
	msg      string
}

func (e *taggedError) Error() string        { return e.msg }
func (e *taggedError) Is(target error) bool { return target == e.sentinel }

// Errorf formats a message that errors.Is matches with sentinel.
func Errorf(sentinel error, format string, args ...any) error {
	return &taggedError{sentinel, fmt.Sprintf(format, args...)}
}

// Seconds reads v, the value of variable name, as a whole number of
// seconds; a bad value is an error tagged with sentinel.
func Seconds(sentinel error, name, v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, Errorf(sentinel, "%s must be a number of seconds (got '%s')", name, v)
	}
	return time.Duration(n) * time.Second, nil
}

// Port reads v, the value of variable name, as a TCP port number; a bad
// value is an error tagged with sentinel.
func Port(sentinel error, name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, Errorf(sentinel, "%s must be a port number (got '%s')", name, v)
	}
	return n, nil
}

var keyRE = regexp.MustCompile(`^[A-Z_]+$`)

// ReadRecorded reads the KEY=VALUE lines of path (a missing file: none).
func ReadRecorded(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		if keyRE.MatchString(k) {
			out[k] = v
		}
	}
	return out
}

// WriteRecorded writes lines (KEY=VALUE) to path, one per line.
func WriteRecorded(path string, lines []string) error {
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
