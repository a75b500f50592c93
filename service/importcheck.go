package service

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// ErrBadImport is wrapped by the errors of CheckImport.
var ErrBadImport = errors.New("malformed state import")

// CheckImport reads a whole import stream (JSON pins, one after the
// other, as `state export` writes them) and checks every pin: valid JSON
// and a defined CID. It returns the number of pins, or an error naming the
// line of the first bad pin, so that a malformed file is refused before
// anything is written.
func CheckImport(r io.Reader) (int, error) {
	counter := &lineCounter{r: r}
	dec := json.NewDecoder(counter)
	n := 0
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		n++
		if err != nil {
			off := errorOffset(err, dec.InputOffset())
			if errors.Is(err, io.ErrUnexpectedEOF) {
				off = counter.read
			}
			return n - 1, fmt.Errorf("%w: line %d (pin #%d): %w", ErrBadImport, counter.lineAt(off), n, err)
		}
		start := dec.InputOffset() - int64(len(raw)) + 1
		var pin api.Pin
		if err := json.Unmarshal(raw, &pin); err != nil {
			return n - 1, fmt.Errorf("%w: line %d (pin #%d): %w", ErrBadImport, counter.lineAt(start), n, err)
		}
		if !pin.Cid.Defined() {
			return n - 1, fmt.Errorf("%w: line %d (pin #%d): the pin has no cid", ErrBadImport, counter.lineAt(start), n)
		}
	}
}

// errorOffset is the input offset an error of the decoder points at.
func errorOffset(err error, fallback int64) int64 {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return syntax.Offset
	case errors.As(err, &typ):
		return typ.Offset
	}
	return fallback
}

// lineCounter remembers where the lines of a stream start, to name the
// line of an offset. It keeps one offset per line: 8 bytes per pin.
type lineCounter struct {
	r      io.Reader
	read   int64
	starts []int64 // offsets of the second, third... lines
}

func (c *lineCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	for i := 0; i < n; {
		j := bytes.IndexByte(b[i:n], '\n')
		if j < 0 {
			break
		}
		c.starts = append(c.starts, c.read+int64(i+j)+1)
		i += j + 1
	}
	c.read += int64(n)
	return n, err
}

// lineAt returns the 1-based line of the byte at 1-based position pos.
func (c *lineCounter) lineAt(pos int64) int {
	return 1 + sort.Search(len(c.starts), func(i int) bool { return c.starts[i] >= pos })
}

// Seekable returns r itself when it can be read twice, else a temporary
// file holding a copy of it, and a function to remove that copy.
func Seekable(r io.Reader) (io.ReadSeeker, func(), error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if _, err := rs.Seek(0, io.SeekCurrent); err == nil {
			return rs, func() {}, nil
		}
	}
	f, err := os.CreateTemp("", "ipfs-cluster-import-*.json")
	if err != nil {
		return nil, nil, fmt.Errorf("keeping a copy of the import to read it twice: %w", err)
	}
	remove := func() { f.Close(); os.Remove(f.Name()) }
	w := bufio.NewWriter(f)
	if _, err := io.Copy(w, r); err != nil {
		remove()
		return nil, nil, fmt.Errorf("keeping a copy of the import: %w", err)
	}
	if err := w.Flush(); err != nil {
		remove()
		return nil, nil, fmt.Errorf("keeping a copy of the import: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		remove()
		return nil, nil, err
	}
	return f, remove, nil
}
