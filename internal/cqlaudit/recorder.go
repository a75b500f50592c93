package cqlaudit

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/gocql/gocql"
)

// Use is a statement a Recorder saw.
type Use struct {
	// Statement is the statement, normalised.
	Statement string
	// InBatch tells whether it was sent inside a batch.
	InBatch bool
	// Count is how many times it was sent (every attempt and every page
	// counts).
	Count int
	// Caller is the first function outside the driver that sent it, the
	// first time, with its file and line ("" when unknown).
	Caller string
}

type useKey struct {
	stmt    string
	inBatch bool
}

// Recorder records the statements and batches sent by the sessions it
// observes. It is a gocql.QueryObserver and a gocql.BatchObserver, safe
// for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	uses       map[useKey]*Use
	normalized map[string]string // raw statement -> Normalize(raw)
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{uses: map[useKey]*Use{}, normalized: map[string]string{}}
}

var (
	_ gocql.QueryObserver = (*Recorder)(nil)
	_ gocql.BatchObserver = (*Recorder)(nil)
)

// ObserveQuery records a statement.
func (r *Recorder) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	r.add(q.Statement, false)
}

// ObserveBatch records each statement of a batch.
func (r *Recorder) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	for _, s := range b.Statements {
		r.add(s, true)
	}
}

// Record records a statement as if it had been sent (inside a batch when
// inBatch).
func (r *Recorder) Record(stmt string, inBatch bool) { r.add(stmt, inBatch) }

func (r *Recorder) add(raw string, inBatch bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	norm, ok := r.normalized[raw]
	if !ok {
		norm = Normalize(raw)
		r.normalized[raw] = norm
	}
	k := useKey{norm, inBatch}
	u := r.uses[k]
	if u == nil {
		u = &Use{Statement: norm, InBatch: inBatch, Caller: caller()}
		r.uses[k] = u
	}
	u.Count++
}

// caller names the first frame of the stack outside the driver, this
// package and the seams: the code that sent the statement (the observers
// run on the goroutine that executes the query).
func caller() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		switch {
		case strings.Contains(f.Function, "/gocql"),
			strings.Contains(f.Function, "/internal/cqlaudit.(*Recorder)"),
			strings.Contains(f.Function, "/internal/seams."),
			strings.HasPrefix(f.Function, "runtime."):
		default:
			if f.Function != "" {
				return fmt.Sprintf("%s (%s:%d)", shortFunc(f.Function), shortFile(f.File), f.Line)
			}
		}
		if !more {
			return ""
		}
	}
}

func shortFunc(fn string) string { return fn[strings.LastIndex(fn, "/")+1:] }

func shortFile(file string) string {
	dir, base := filepath.Split(file)
	return filepath.Join(filepath.Base(dir), base)
}

// Uses returns what the recorder saw, sorted by statement.
func (r *Recorder) Uses() []Use {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Use, 0, len(r.uses))
	for _, u := range r.uses {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Statement != out[j].Statement {
			return out[i].Statement < out[j].Statement
		}
		return !out[i].InBatch && out[j].InBatch
	})
	return out
}

// Seen tells whether the recorder saw a statement (normalised), in a
// batch or not.
func (r *Recorder) Seen(stmt string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uses[useKey{stmt, false}] != nil || r.uses[useKey{stmt, true}] != nil
}
