package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress reports long imports and exports on stderr, when it is a
// terminal, once a second.
type progress struct {
	done  chan struct{}
	ended chan struct{}
	count atomic.Int64
	line  func(n int64) string
}

func startProgress(line func(n int64) string) *progress {
	p := &progress{done: make(chan struct{}), ended: make(chan struct{}), line: line}
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		close(p.ended)
		return p
	}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				fmt.Fprintf(os.Stderr, "\r%s\n", p.line(p.count.Load()))
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "\r%s", p.line(p.count.Load()))
			}
		}
	}()
	return p
}

func (p *progress) finish() {
	close(p.done)
	<-p.ended
}

// progressReader counts the bytes read.
type progressReader struct {
	*progress
	r io.Reader
}

func newProgressReader(r io.Reader, size int64, what string) *progressReader {
	return &progressReader{r: r, progress: startProgress(func(n int64) string {
		if size > 0 {
			return fmt.Sprintf("%s: %.1f MiB of %.1f MiB read (%d%%)", what, mib(n), mib(size), n*100/size)
		}
		return fmt.Sprintf("%s: %.1f MiB read", what, mib(n))
	})}
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.count.Add(int64(n))
	return n, err
}

// progressWriter counts the lines (pins) written.
type progressWriter struct {
	*progress
	w io.Writer
}

func newProgressWriter(w io.Writer, verb string) *progressWriter {
	return &progressWriter{w: w, progress: startProgress(func(n int64) string {
		return fmt.Sprintf("%s %d pins", verb, n)
	})}
}

func (w *progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.count.Add(int64(bytes.Count(b[:n], []byte{'\n'})))
	return n, err
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
