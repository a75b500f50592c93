package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/procstat"
)

// RSS is the current resident set (VmRSS) of pid in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status VmRSS %q: %w", pid, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS line", pid)
}

// CPUTime is the user + system CPU time pid has used so far.
func CPUTime(pid int) (time.Duration, error) { return procstat.CPUTime(pid) }

// RSSSeries is what an RSSSampler saw.
type RSSSeries struct {
	Start, Peak, End int64 // bytes; Start is the first sample
	Samples          int
}

// RSSSampler reads the RSS of a set of processes every interval until
// stopped. Its goroutine is owned by the sampler: Stop ends it.
type RSSSampler struct {
	mu     sync.Mutex
	series map[string]*RSSSeries
	total  RSSSeries // of the sum over the processes of each sample
	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once
}

// SampleRSS starts sampling the given processes (name -> pid).
func SampleRSS(pids map[string]int, interval time.Duration) *RSSSampler {
	s := &RSSSampler{series: map[string]*RSSSeries{}, stopCh: make(chan struct{}), done: make(chan struct{})}
	for name := range pids {
		s.series[name] = &RSSSeries{}
	}
	s.sample(pids)
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stopCh:
				s.sample(pids)
				return
			case <-t.C:
				s.sample(pids)
			}
		}
	}()
	return s
}

func (s *RSSSampler) sample(pids map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum int64
	for name, pid := range pids {
		v, err := RSS(pid)
		if err != nil || v == 0 {
			continue // exited: keep what was seen
		}
		s.series[name].add(v)
		sum += v
	}
	if sum > 0 {
		s.total.add(sum)
	}
}

func (r *RSSSeries) add(v int64) {
	if r.Samples == 0 {
		r.Start = v
	}
	r.Samples++
	r.End = v
	r.Peak = max(r.Peak, v)
}

// TotalSeries is the series of the sum of the processes' RSS, once
// stopped.
func (s *RSSSampler) TotalSeries() RSSSeries {
	s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Stop ends the sampling (after one last sample) and returns the series.
// It may be called more than once.
func (s *RSSSampler) Stop() map[string]RSSSeries {
	s.once.Do(func() { close(s.stopCh) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]RSSSeries{}
	for k, v := range s.series {
		out[k] = *v
	}
	return out
}

// Tail returns the last n lines of a file, joined by " | " (for errors).
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// LogWatch finds a string in a growing log file, reading only what was
// appended since the last call (peer logs may grow large).
type LogWatch struct {
	path   string
	needle []byte
	off    int64
	carry  []byte // the end of the previous read, for matches across reads
}

// NewLogWatch watches path for needle, from the start of the file.
func NewLogWatch(path, needle string) *LogWatch {
	return &LogWatch{path: path, needle: []byte(needle)}
}

// Found reads what was appended and tells whether the needle has appeared.
func (w *LogWatch) Found() bool {
	f, err := os.Open(w.path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.ReadAt(buf, w.off)
		if n > 0 {
			w.off += int64(n)
			chunk := append(w.carry, buf[:n]...)
			if bytes.Contains(chunk, w.needle) {
				return true
			}
			k := min(len(chunk), len(w.needle))
			w.carry = append([]byte(nil), chunk[len(chunk)-k:]...)
		}
		if err != nil || n == 0 {
			return false
		}
	}
}
