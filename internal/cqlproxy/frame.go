package cqlproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors recorded by the proxy (see Proxy.Err) and returned by the frame
// parser.
var (
	// ErrUnsupportedProtocol means a peer spoke something the proxy cannot
	// parse: a CQL native protocol version other than v3 and v4 (v5 wraps
	// its frames in checksummed segments), TLS, or not CQL at all.
	ErrUnsupportedProtocol = errors.New("cqlproxy: unsupported protocol")
	// ErrMalformedFrame means a frame header or body does not follow the
	// CQL native protocol v4 specification.
	ErrMalformedFrame = errors.New("cqlproxy: malformed CQL frame")
)

// headerLen is the length of a v3/v4 frame header: version, flags,
// stream (int16), opcode, body length (int32).
const headerLen = 9

// maxBodyLen is the largest frame body accepted: the protocol's limit of
// 256 MB.
const maxBodyLen = 256 << 20

// Protocol versions the proxy parses. v5 uses the same 9-byte header for
// its first frames (OPTIONS, STARTUP, READY) and then switches to
// segments, which the proxy does not parse.
const (
	minVersion = 3
	maxVersion = 4
	v5         = 5

	responseBit = 0x80
	versionMask = 0x7f
)

// Header flags (CQL native protocol v4, section 2.2).
const (
	flagCompress      = 0x01
	flagTracing       = 0x02
	flagCustomPayload = 0x04
	flagWarning       = 0x08
)

// Opcode is the kind of a CQL frame.
type Opcode byte

// Opcodes of the CQL native protocol v4.
const (
	OpError         Opcode = 0x00
	OpStartup       Opcode = 0x01
	OpReady         Opcode = 0x02
	OpAuthenticate  Opcode = 0x03
	OpOptions       Opcode = 0x05
	OpSupported     Opcode = 0x06
	OpQuery         Opcode = 0x07
	OpResult        Opcode = 0x08
	OpPrepare       Opcode = 0x09
	OpExecute       Opcode = 0x0A
	OpRegister      Opcode = 0x0B
	OpEvent         Opcode = 0x0C
	OpBatch         Opcode = 0x0D
	OpAuthChallenge Opcode = 0x0E
	OpAuthResponse  Opcode = 0x0F
	OpAuthSuccess   Opcode = 0x10
)

var opNames = map[Opcode]string{
	OpError: "ERROR", OpStartup: "STARTUP", OpReady: "READY", OpAuthenticate: "AUTHENTICATE",
	OpOptions: "OPTIONS", OpSupported: "SUPPORTED", OpQuery: "QUERY", OpResult: "RESULT",
	OpPrepare: "PREPARE", OpExecute: "EXECUTE", OpRegister: "REGISTER", OpEvent: "EVENT",
	OpBatch: "BATCH", OpAuthChallenge: "AUTH_CHALLENGE", OpAuthResponse: "AUTH_RESPONSE",
	OpAuthSuccess: "AUTH_SUCCESS",
}

// String returns the specification's name of the opcode.
func (o Opcode) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("OPCODE(0x%02x)", byte(o))
}

// header is a decoded frame header.
type header struct {
	version byte // with the direction bit (0x80 = response)
	flags   byte
	stream  int16
	opcode  Opcode
	length  int
}

// protoVersion is the protocol version without the direction bit.
func (h header) protoVersion() byte { return h.version & versionMask }

// response tells whether the frame goes from the server to the client.
func (h header) response() bool { return h.version&responseBit != 0 }

// parseHeader decodes a frame header. A version the proxy cannot parse
// wraps ErrUnsupportedProtocol, and the header is still returned when its
// first byte names protocol v5 or later (their first frames have the same
// 9-byte header), so that the caller can answer with an error frame.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerLen {
		return header{}, fmt.Errorf("%w: header of %d bytes, want %d", ErrMalformedFrame, len(b), headerLen)
	}
	h := header{
		version: b[0],
		flags:   b[1],
		stream:  int16(binary.BigEndian.Uint16(b[2:4])),
		opcode:  Opcode(b[4]),
		length:  int(int32(binary.BigEndian.Uint32(b[5:9]))),
	}
	switch v := h.protoVersion(); {
	case v >= v5 && v <= 6:
		return h, fmt.Errorf("%w: CQL native protocol v%d (the proxy parses v%d and v%d only)", ErrUnsupportedProtocol, v, minVersion, maxVersion)
	case v < minVersion || v > maxVersion:
		return header{}, fmt.Errorf("%w: first byte 0x%02x is not a CQL v%d/v%d frame header (TLS, an old protocol or not CQL)", ErrUnsupportedProtocol, b[0], minVersion, maxVersion)
	}
	if h.length < 0 || h.length > maxBodyLen {
		return header{}, fmt.Errorf("%w: %s frame on stream %d has a body length of %d", ErrMalformedFrame, h.opcode, h.stream, h.length)
	}
	return h, nil
}

// frame is one whole frame: its decoded header and its bytes exactly as
// read, which the proxy forwards unchanged.
type frame struct {
	header
	raw []byte // header and body
}

// body returns the frame body.
func (f *frame) body() []byte { return f.raw[headerLen:] }

// readFrame reads one whole frame. io.EOF means the stream ended cleanly
// between frames. When the header names a protocol version the proxy does
// not parse, it returns the frame with its header only and an error
// wrapping ErrUnsupportedProtocol.
func readFrame(r io.Reader) (*frame, error) {
	var hb [headerLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return nil, err
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		if h.version != 0 {
			return &frame{header: h, raw: hb[:]}, err
		}
		return nil, err
	}
	raw := make([]byte, headerLen+h.length)
	copy(raw, hb[:])
	if _, err := io.ReadFull(r, raw[headerLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading the body of a %s frame: %w", h.opcode, err)
	}
	return &frame{header: h, raw: raw}, nil
}

// encodeFrame builds a frame from its parts.
func encodeFrame(version, flags byte, stream int16, op Opcode, body []byte) []byte {
	raw := make([]byte, headerLen, headerLen+len(body))
	raw[0] = version
	raw[1] = flags
	binary.BigEndian.PutUint16(raw[2:4], uint16(stream))
	raw[4] = byte(op)
	binary.BigEndian.PutUint32(raw[5:9], uint32(len(body)))
	return append(raw, body...)
}

// errorBody is the body of an ERROR frame: [int] code, [string] message.
func errorBody(code int32, msg string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(code))
	if len(msg) > 0xffff {
		msg = msg[:0xffff]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// reader decodes the notations of the protocol ([int], [short],
// [string], ...) from a body. The first error sticks: later reads return
// zero values, so a parse can run to its end and check err once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: body too short for %s", ErrMalformedFrame, what)
	}
	r.b = nil
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte(what string) byte {
	b := r.take(1, what)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) short(what string) int {
	b := r.take(2, what)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *reader) int(what string) int {
	b := r.take(4, what)
	if b == nil {
		return 0
	}
	return int(int32(binary.BigEndian.Uint32(b)))
}

// string reads a [string]: a [short] length and UTF-8 bytes.
func (r *reader) string(what string) string { return string(r.take(r.short(what), what)) }

// longString reads a [long string]: an [int] length and UTF-8 bytes.
func (r *reader) longString(what string) string {
	n := r.int(what)
	if n < 0 {
		r.fail(what)
		return ""
	}
	return string(r.take(n, what))
}

// shortBytes reads [short bytes]: a [short] length and bytes.
func (r *reader) shortBytes(what string) []byte { return r.take(r.short(what), what) }

// skipValue skips a [value] or [bytes]: an [int] length and bytes, no
// bytes when the length is negative (null, or unset for a [value]).
func (r *reader) skipValue(what string) {
	if n := r.int(what); n > 0 {
		r.take(n, what)
	}
}

// skipStringList skips a [string list]: a [short] n and n [string].
func (r *reader) skipStringList(what string) {
	for n := r.short(what); n > 0 && r.err == nil; n-- {
		r.string(what)
	}
}

// skipBytesMap skips a [bytes map]: a [short] n and n pairs of [string]
// and [bytes].
func (r *reader) skipBytesMap(what string) {
	for n := r.short(what); n > 0 && r.err == nil; n-- {
		r.string(what)
		r.skipValue(what)
	}
}
