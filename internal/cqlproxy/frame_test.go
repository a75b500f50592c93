package cqlproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// Body encoders, after the notations of the protocol specification.

func appendShort(b []byte, n int) []byte { return binary.BigEndian.AppendUint16(b, uint16(n)) }
func appendInt(b []byte, n int) []byte   { return binary.BigEndian.AppendUint32(b, uint32(int32(n))) }

func appendString(b []byte, s string) []byte { return append(appendShort(b, len(s)), s...) }

func appendLongString(b []byte, s string) []byte { return append(appendInt(b, len(s)), s...) }

func appendShortBytes(b, v []byte) []byte { return append(appendShort(b, len(v)), v...) }

func appendValue(b, v []byte) []byte {
	if v == nil {
		return appendInt(b, -1)
	}
	return append(appendInt(b, len(v)), v...)
}

func appendBytesMap(b []byte, m map[string][]byte) []byte {
	b = appendShort(b, len(m))
	for k, v := range m {
		b = appendString(b, k)
		b = appendValue(b, v)
	}
	return b
}

// startupBody is the [string map] {CQL_VERSION: 3.0.0}.
func startupBody() []byte {
	return appendString(appendString(appendShort(nil, 1), "CQL_VERSION"), "3.0.0")
}

// queryParams is a v4 <query_parameters>: consistency ONE, values flag,
// the values.
func queryParams(values ...[]byte) []byte {
	b := appendShort(nil, 1)
	b = append(b, 0x01)
	b = appendShort(b, len(values))
	for _, v := range values {
		b = appendValue(b, v)
	}
	return b
}

func queryBody(q string) []byte { return append(appendLongString(nil, q), queryParams()...) }

func executeBody(id []byte, values ...[]byte) []byte {
	return append(appendShortBytes(nil, id), queryParams(values...)...)
}

// batchEntry is a text entry when id is nil.
type batchEntry struct {
	text   string
	id     []byte
	values [][]byte
}

func batchBody(entries ...batchEntry) []byte {
	b := []byte{0} // LOGGED
	b = appendShort(b, len(entries))
	for _, e := range entries {
		if e.id == nil {
			b = append(b, 0)
			b = appendLongString(b, e.text)
		} else {
			b = append(b, 1)
			b = appendShortBytes(b, e.id)
		}
		b = appendShort(b, len(e.values))
		for _, v := range e.values {
			b = appendValue(b, v)
		}
	}
	b = appendShort(b, 1) // consistency
	return append(b, 0)   // flags
}

func preparedResultBody(id []byte) []byte {
	b := appendInt(nil, resultPrepared)
	b = appendShortBytes(b, id)
	b = appendInt(b, 0) // metadata flags
	b = appendInt(b, 0) // columns
	b = appendInt(b, 0) // pk count
	b = appendInt(b, 0x0004)
	return appendInt(b, 0)
}

func reqFrame(flags byte, stream int16, op Opcode, body []byte) *frame {
	raw := encodeFrame(4, flags, stream, op, body)
	h, err := parseHeader(raw)
	if err != nil {
		panic(err)
	}
	return &frame{header: h, raw: raw}
}

func respFrame(flags byte, stream int16, op Opcode, body []byte) *frame {
	raw := encodeFrame(responseBit|4, flags, stream, op, body)
	h, err := parseHeader(raw)
	if err != nil {
		panic(err)
	}
	return &frame{header: h, raw: raw}
}

func TestParseHeader(t *testing.T) {
	raw := encodeFrame(0x84, flagWarning, -1, OpEvent, []byte("abc"))
	h, err := parseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := header{version: 0x84, flags: flagWarning, stream: -1, opcode: OpEvent, length: 3}
	if h != want {
		t.Fatalf("got %+v, want %+v", h, want)
	}
	if !h.response() || h.protoVersion() != 4 {
		t.Fatalf("response %v version %d", h.response(), h.protoVersion())
	}
	if h, err := parseHeader(encodeFrame(0x03, 0, 300, OpQuery, nil)); err != nil || h.stream != 300 || h.response() {
		t.Fatalf("v3 request: %+v, %v", h, err)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	long := encodeFrame(0x04, 0, 1, OpQuery, nil)
	binary.BigEndian.PutUint32(long[5:], maxBodyLen+1)
	negative := encodeFrame(0x04, 0, 1, OpQuery, nil)
	binary.BigEndian.PutUint32(negative[5:], 0xffffffff)
	for _, tc := range []struct {
		name       string
		raw        []byte
		want       error
		keepHeader bool
	}{
		{"short", []byte{4, 0, 0}, ErrMalformedFrame, false},
		{"v5", encodeFrame(0x05, 0x10, 0, OpOptions, nil), ErrUnsupportedProtocol, true},
		{"v5 response", encodeFrame(0x85, 0, 0, OpReady, nil), ErrUnsupportedProtocol, true},
		{"v2", encodeFrame(0x02, 0, 0, OpStartup, nil), ErrUnsupportedProtocol, false},
		{"TLS client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}, ErrUnsupportedProtocol, false},
		{"too long", long, ErrMalformedFrame, false},
		{"negative length", negative, ErrMalformedFrame, false},
	} {
		h, err := parseHeader(tc.raw)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if got := h.version != 0; got != tc.keepHeader {
			t.Errorf("%s: header kept %v (%+v), want %v", tc.name, got, h, tc.keepHeader)
		}
	}
}

func TestReadFrameStream(t *testing.T) {
	frames := [][]byte{
		encodeFrame(0x04, 0, 0, OpStartup, startupBody()),
		encodeFrame(0x04, 0, 1, OpQuery, queryBody("SELECT * FROM t")),
		encodeFrame(0x04, 0, 2, OpOptions, nil),
	}
	var all []byte
	for _, f := range frames {
		all = append(all, f...)
	}
	// One byte at a time: frames split anywhere must come out whole.
	r := iotest.OneByteReader(bytes.NewReader(all))
	for i, want := range frames {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.raw, want) {
			t.Fatalf("frame %d: got %x, want %x", i, f.raw, want)
		}
	}
	if _, err := readFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameTruncated(t *testing.T) {
	raw := encodeFrame(0x04, 0, 1, OpQuery, queryBody("SELECT 1"))
	_, err := readFrame(bytes.NewReader(raw[:len(raw)-3]))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	_, err = readFrame(bytes.NewReader(raw[:5]))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short header: got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadFrameV5KeepsHeader(t *testing.T) {
	f, err := readFrame(bytes.NewReader(encodeFrame(0x05, 0x10, 7, OpStartup, []byte("ignored"))))
	if !errors.Is(err, ErrUnsupportedProtocol) || f == nil || f.protoVersion() != 5 || f.stream != 7 {
		t.Fatalf("got %+v, %v", f, err)
	}
}

func TestParseRequest(t *testing.T) {
	known := map[string]string{"id-1": "INSERT INTO ks.pin_events (a) VALUES (?)"}
	lookup := func(id []byte) string { return known[string(id)] }
	for _, tc := range []struct {
		name string
		f    *frame
		want Request
	}{
		{
			name: "query",
			f:    reqFrame(0, 3, OpQuery, queryBody("SELECT v FROM ks.kv")),
			want: Request{Opcode: OpQuery, Stream: 3, Statements: []string{"SELECT v FROM ks.kv"}},
		},
		{
			name: "query with custom payload",
			f: reqFrame(flagCustomPayload|flagTracing, 4, OpQuery,
				append(appendBytesMap(nil, map[string][]byte{"k": []byte("v")}), queryBody("SELECT 1")...)),
			want: Request{Opcode: OpQuery, Stream: 4, Statements: []string{"SELECT 1"}},
		},
		{
			name: "prepare",
			f:    reqFrame(0, 5, OpPrepare, appendLongString(nil, "INSERT INTO ks.pins (c) VALUES (?)")),
			want: Request{Opcode: OpPrepare, Stream: 5, Statements: []string{"INSERT INTO ks.pins (c) VALUES (?)"}},
		},
		{
			name: "execute known",
			f:    reqFrame(0, 6, OpExecute, executeBody([]byte("id-1"), []byte("x"), nil)),
			want: Request{Opcode: OpExecute, Stream: 6, Statements: []string{known["id-1"]}, PreparedIDs: [][]byte{[]byte("id-1")}},
		},
		{
			name: "execute unknown",
			f:    reqFrame(0, 7, OpExecute, executeBody([]byte("id-2"))),
			want: Request{Opcode: OpExecute, Stream: 7, Statements: []string{""}, PreparedIDs: [][]byte{[]byte("id-2")}},
		},
		{
			name: "batch",
			f: reqFrame(0, 8, OpBatch, batchBody(
				batchEntry{text: "DELETE FROM ks.pins WHERE c = ?", values: [][]byte{[]byte("c1")}},
				batchEntry{id: []byte("id-1"), values: [][]byte{nil, []byte("long value")}},
				batchEntry{id: []byte("id-3")},
			)),
			want: Request{Opcode: OpBatch, Stream: 8,
				Statements:  []string{"DELETE FROM ks.pins WHERE c = ?", known["id-1"], ""},
				PreparedIDs: [][]byte{nil, []byte("id-1"), []byte("id-3")}},
		},
		{
			name: "compressed",
			f:    reqFrame(flagCompress, 9, OpQuery, []byte{1, 2, 3}),
			want: Request{Opcode: OpQuery, Stream: 9, Compressed: true},
		},
		{
			name: "options",
			f:    reqFrame(0, 10, OpOptions, nil),
			want: Request{Opcode: OpOptions, Stream: 10},
		},
	} {
		got, err := parseRequest(tc.f, lookup)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
}

func TestParseRequestMalformed(t *testing.T) {
	lookup := func([]byte) string { return "" }
	full := batchBody(batchEntry{text: "INSERT", values: [][]byte{[]byte("abc")}}, batchEntry{id: []byte("x")})
	for _, tc := range []struct {
		name string
		f    *frame
	}{
		{"query length beyond body", reqFrame(0, 1, OpQuery, appendInt(nil, 100))},
		{"negative query length", reqFrame(0, 1, OpQuery, appendInt(nil, -1))},
		{"empty execute", reqFrame(0, 1, OpExecute, nil)},
		{"batch cut in a value", reqFrame(0, 1, OpBatch, full[:12])},
		{"batch entry kind 7", reqFrame(0, 1, OpBatch, []byte{0, 0, 1, 7})},
		{"custom payload cut", reqFrame(flagCustomPayload, 1, OpQuery, []byte{0, 1, 0})},
	} {
		if _, err := parseRequest(tc.f, lookup); !errors.Is(err, ErrMalformedFrame) {
			t.Errorf("%s: got %v, want ErrMalformedFrame", tc.name, err)
		}
	}
	// Every truncation of a valid batch fails cleanly, never panics.
	for n := 0; n < len(full)-3; n++ { // the last 3 bytes (consistency, flags) are not read
		if _, err := parseRequest(reqFrame(0, 1, OpBatch, full[:n]), lookup); err == nil {
			t.Errorf("batch cut at %d of %d: no error", n, len(full))
		}
	}
}

func TestPreparedID(t *testing.T) {
	id := []byte{0xca, 0xfe, 0x01}
	warnings := appendString(appendShort(nil, 1), "a warning")
	for _, tc := range []struct {
		name string
		f    *frame
		ok   bool
	}{
		{"plain", respFrame(0, 1, OpResult, preparedResultBody(id)), true},
		{"tracing and warnings", respFrame(flagTracing|flagWarning, 1, OpResult,
			append(append(bytes.Repeat([]byte{7}, 16), warnings...), preparedResultBody(id)...)), true},
		{"custom payload", respFrame(flagCustomPayload, 1, OpResult,
			append(appendBytesMap(nil, map[string][]byte{"a": nil}), preparedResultBody(id)...)), true},
		{"void result", respFrame(0, 1, OpResult, appendInt(nil, 1)), false},
		{"error", respFrame(0, 1, OpError, errorBody(0x2200, "invalid")), false},
		{"compressed", respFrame(flagCompress, 1, OpResult, []byte{9, 9}), false},
	} {
		got, ok, err := preparedID(tc.f)
		if err != nil || ok != tc.ok || (ok && !bytes.Equal(got, id)) {
			t.Errorf("%s: got %x, %v, %v", tc.name, got, ok, err)
		}
	}
	if _, _, err := preparedID(respFrame(0, 1, OpResult, appendShort(appendInt(nil, resultPrepared), 10))); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("cut ID: got %v", err)
	}
}

func TestFilters(t *testing.T) {
	insert := Request{Opcode: OpExecute, Statements: []string{"INSERT INTO ks.pin_events (a) VALUES (?)"}}
	prepare := Request{Opcode: OpPrepare, Statements: insert.Statements}
	batch := Request{Opcode: OpBatch, Statements: []string{"", "insert into ks.pins (c) values (?)", "INSERT INTO ks.pin_events (a) VALUES (?)"}}
	read := Request{Opcode: OpQuery, Statements: []string{"SELECT * FROM ks.pin_events"}}
	f := StatementContains("INSERT", "pin_events")
	for _, tc := range []struct {
		req  Request
		want bool
	}{{insert, true}, {prepare, false}, {batch, true}, {read, false}, {Request{Opcode: OpExecute, Statements: []string{""}}, false}} {
		if got := f(tc.req); got != tc.want {
			t.Errorf("StatementContains on %v: %v, want %v", tc.req, got, tc.want)
		}
	}
	// One statement must contain every substring: "INSERT" in one entry
	// and "pin_events" in another is no match.
	mixed := Request{Opcode: OpBatch, Statements: []string{"INSERT INTO ks.pins", "DELETE FROM ks.pin_events"}}
	if f(mixed) {
		t.Error("StatementContains matched substrings spread over two statements")
	}
	if !Executions(read) || Executions(prepare) {
		t.Error("Executions: want QUERY/EXECUTE/BATCH only")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(byte(OpBatch), batchBody(batchEntry{text: "INSERT", values: [][]byte{nil, {1}}}, batchEntry{id: []byte{1}}))
	f.Add(byte(OpQuery), queryBody("SELECT 1"))
	f.Add(byte(OpExecute), executeBody([]byte{1, 2}))
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		for _, flags := range []byte{0, flagCustomPayload} {
			_, _ = parseRequest(reqFrame(flags, 1, Opcode(op), body), func([]byte) string { return "" })
			_, _, _ = preparedID(respFrame(flags|flagTracing|flagWarning, 1, OpResult, body))
		}
	})
}
