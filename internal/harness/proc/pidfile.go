package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// A detached daemon (a Cassandra node, a kubo daemon) outlives the command
// that started it; later commands know it by its pid file. The file holds
// the pid alone (for other readers); FILE.start holds the process's start
// time (clock ticks since boot, /proc/PID/stat field 22), so that a
// recycled pid is never taken for ours. A pid file without a start time
// (an older script's) is checked by an argv word of the process instead.
// The layout is that of the shell scripts this replaces (and of the
// cluster peers' pid files, internal/harness/cluster), so that either sees
// the other's daemons.

// PIDFile names a detached daemon: where its pid is recorded, and the argv
// word that tells its process from any other.
type PIDFile struct {
	Label string // for messages, e.g. "node1"
	Path  string
	Word  string
}

// stat is the state letter and the start time of pid.
func stat(pid int) (state byte, start string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f[0][0], f[19], nil
}

// HasArg tells whether one of pid's argv words is word (true where /proc
// cannot tell).
func HasArg(pid int, word string) bool {
	path := fmt.Sprintf("/proc/%d/cmdline", pid)
	if _, err := os.Stat(path); err != nil {
		return !exists(pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, a := range bytes.Split(b, []byte{0}) {
		if string(a) == word {
			return true
		}
	}
	return false
}

func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// signalable tells whether pid exists and may be signalled (kill -0).
func signalable(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Alive tells whether pid runs, is not a zombie, and is ours: its start
// time is start, or (start empty: a pid file of an older script) word is
// one of its argv words.
func Alive(pid int, start, word string) bool {
	if pid <= 0 || !signalable(pid) {
		return false
	}
	st, s, err := stat(pid)
	if err != nil {
		return !exists(pid) // no /proc at all: kill -0 is all we have
	}
	if st == 'Z' || st == 'X' {
		return false
	}
	if start != "" {
		return s == start
	}
	return HasArg(pid, word)
}

// Paused tells whether pid is stopped (SIGSTOP).
func Paused(pid int) bool {
	st, _, err := stat(pid)
	return err == nil && st == 'T'
}

// Record writes pid to the file and its start time to FILE.start.
func (f PIDFile) Record(pid int) error {
	if err := os.WriteFile(f.Path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	if _, start, err := stat(pid); err == nil {
		return os.WriteFile(f.Path+".start", []byte(start+"\n"), 0o644)
	}
	_ = os.Remove(f.Path + ".start")
	return nil
}

// Forget removes the file and FILE.start.
func (f PIDFile) Forget() {
	_ = os.Remove(f.Path)
	_ = os.Remove(f.Path + ".start")
}

// recorded is the pid and start time in the files (0 if none).
func (f PIDFile) recorded() (int, string) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return 0, ""
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	s, _ := os.ReadFile(f.Path + ".start")
	return pid, strings.TrimSpace(string(s))
}

// Running is the pid recorded in the file if that process runs (see
// Alive); else 0, and a stale file is removed.
func (f PIDFile) Running() int {
	if _, err := os.Stat(f.Path); err != nil {
		return 0
	}
	pid, start := f.recorded()
	if Alive(pid, start, f.Word) {
		return pid
	}
	f.Forget()
	return 0
}

// WithArg lists the processes that have word as an argv word.
func WithArg(word string) []int {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && HasArg(pid, word) {
			out = append(out, pid)
		}
	}
	return out
}

// Adopt records, when no process of the file runs, the one process that
// has the word as an argv word, if any (left by a crashed command).
func (f PIDFile) Adopt(logf func(string, ...any)) {
	if f.Running() != 0 {
		return
	}
	found := WithArg(f.Word)
	if len(found) != 1 {
		return
	}
	logf("%s: found pid %d running without a pid file: adopting it", f.Label, found[0])
	_ = f.Record(found[0])
}

// Exited tells whether pid has exited: it does not exist, or it is a
// zombie (it only waits to be reaped by its parent or by init).
func Exited(pid int) bool {
	if pid <= 0 || !signalable(pid) {
		return true
	}
	st, _, err := stat(pid)
	if err != nil {
		return !exists(pid)
	}
	return st == 'Z' || st == 'X'
}
