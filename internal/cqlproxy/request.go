package cqlproxy

import (
	"fmt"
	"strings"
)

// Request is what the proxy saw of a client request, given to filters
// (DropResponsesWhere, HoldResponsesWhere, DelayWhere) when its response
// comes back.
type Request struct {
	// Opcode of the request.
	Opcode Opcode
	// Stream is the stream ID that correlates the request and its
	// response on one connection.
	Stream int16
	// Statements holds the CQL text of the request: for QUERY and
	// PREPARE their text; for EXECUTE the text of the prepared statement
	// when the proxy saw it prepared (through any connection of this
	// proxy), else ""; for BATCH one element per entry, in order, each
	// the entry's text or the text of its prepared statement ("" when
	// unknown).
	Statements []string
	// PreparedIDs holds, for EXECUTE, the prepared statement ID and, for
	// BATCH, one element per entry: the ID of a prepared entry, nil for
	// an entry given as text.
	PreparedIDs [][]byte
	// Compressed is set when the frame body is compressed (the client set
	// a gocql Compressor): the proxy does not decompress, so Statements
	// and PreparedIDs are empty.
	Compressed bool
}

// IsExecution tells whether the request runs statements: QUERY, EXECUTE
// or BATCH. Without a filter, the faults affect the responses to these
// requests only.
func (r Request) IsExecution() bool {
	switch r.Opcode {
	case OpQuery, OpExecute, OpBatch:
		return true
	}
	return false
}

// isStatementRequest tells whether the request is one whose response a
// fault can affect: an execution or a PREPARE. Connection set-up
// (STARTUP, OPTIONS, AUTH_RESPONSE, REGISTER, and the "USE keyspace"
// QUERY that gocql sends on each new connection of a session with a
// keyspace) never is, except by Blackhole and Refuse.
func (r Request) isStatementRequest() bool {
	switch {
	case r.Opcode == OpQuery && len(r.Statements) == 1 && isUse(r.Statements[0]):
		return false
	case r.IsExecution(), r.Opcode == OpPrepare:
		return true
	}
	return false
}

// isUse tells whether a statement is USE.
func isUse(stmt string) bool {
	f := strings.Fields(stmt)
	return len(f) > 0 && strings.EqualFold(f[0], "USE")
}

// Contains tells whether one of the request's statements contains every
// one of subs, ignoring case.
func (r Request) Contains(subs ...string) bool {
	for _, st := range r.Statements {
		if containsAllFold(st, subs) {
			return true
		}
	}
	return false
}

func containsAllFold(s string, subs []string) bool {
	if s == "" {
		return false
	}
	ls := strings.ToLower(s)
	for _, sub := range subs {
		if !strings.Contains(ls, strings.ToLower(sub)) {
			return false
		}
	}
	return true
}

// String describes the request for logs.
func (r Request) String() string {
	return fmt.Sprintf("%s stream %d %q", r.Opcode, r.Stream, r.Statements)
}

// Executions is the default filter: it selects the responses to QUERY,
// EXECUTE and BATCH requests, and not those to PREPARE, so that a
// statement the driver prepares before its first execution does get
// executed (and lands) under DropResponses.
func Executions(r Request) bool { return r.IsExecution() }

// StatementContains returns a filter that selects the responses to the
// executions (QUERY, EXECUTE, BATCH; never PREPARE) of which one
// statement contains every one of subs, ignoring case: for example
// StatementContains("INSERT", "pin_events") selects the writes into
// pin_events, in batches or not.
func StatementContains(subs ...string) func(Request) bool {
	subs = append([]string(nil), subs...)
	return func(r Request) bool { return r.IsExecution() && r.Contains(subs...) }
}

// parseRequest decodes what the filters need from a client frame. lookup
// returns the CQL text of a prepared statement ID ("" when unknown). A
// body that does not follow the protocol returns what was decoded before
// the error and an error wrapping ErrMalformedFrame.
func parseRequest(f *frame, lookup func(id []byte) string) (Request, error) {
	req := Request{Opcode: f.opcode, Stream: f.stream}
	switch f.opcode {
	case OpQuery, OpPrepare, OpExecute, OpBatch:
	default:
		return req, nil
	}
	if f.flags&flagCompress != 0 {
		req.Compressed = true
		return req, nil
	}
	r := &reader{b: f.body()}
	if f.flags&flagCustomPayload != 0 {
		r.skipBytesMap("the custom payload")
	}
	switch f.opcode {
	case OpQuery, OpPrepare:
		q := r.longString("the query string")
		if r.err == nil {
			req.Statements = []string{q}
		}
	case OpExecute:
		id := clone(r.shortBytes("the prepared ID"))
		if r.err == nil {
			req.PreparedIDs = [][]byte{id}
			req.Statements = []string{lookup(id)}
		}
	case OpBatch:
		r.byte("the batch type")
		n := r.short("the number of batch entries")
		for i := 0; i < n && r.err == nil; i++ {
			var (
				text string
				id   []byte
			)
			switch kind := r.byte("a batch entry kind"); kind {
			case 0:
				text = r.longString("a batch entry query")
			case 1:
				id = clone(r.shortBytes("a batch entry prepared ID"))
				text = lookup(id)
			default:
				if r.err == nil {
					r.err = fmt.Errorf("%w: batch entry %d has kind %d", ErrMalformedFrame, i, kind)
				}
			}
			for v := r.short("the number of batch values"); v > 0 && r.err == nil; v-- {
				r.skipValue("a batch value")
			}
			if r.err == nil {
				req.Statements = append(req.Statements, text)
				req.PreparedIDs = append(req.PreparedIDs, id)
			}
		}
	}
	if r.err != nil {
		return req, fmt.Errorf("%s request on stream %d: %w", f.opcode, f.stream, r.err)
	}
	return req, nil
}

// Result kinds (CQL native protocol v4, section 4.2.5).
const resultPrepared = 0x0004

// preparedID returns the statement ID of a RESULT frame of kind Prepared.
// ok is false for other frames and for compressed bodies.
func preparedID(f *frame) (id []byte, ok bool, err error) {
	if f.opcode != OpResult || f.flags&flagCompress != 0 {
		return nil, false, nil
	}
	r := &reader{b: f.body()}
	if f.flags&flagTracing != 0 {
		r.take(16, "the tracing ID")
	}
	if f.flags&flagWarning != 0 {
		r.skipStringList("the warnings")
	}
	if f.flags&flagCustomPayload != 0 {
		r.skipBytesMap("the custom payload")
	}
	kind := r.int("the result kind")
	if r.err == nil && kind != resultPrepared {
		return nil, false, nil
	}
	id = r.shortBytes("the prepared ID")
	if r.err != nil {
		return nil, false, fmt.Errorf("RESULT on stream %d: %w", f.stream, r.err)
	}
	return clone(id), true, nil
}

// clone copies b so that a Request does not pin the frame it came from.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
