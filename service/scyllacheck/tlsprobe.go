package scyllacheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

// confirmTLS checks, for a host whose TLS handshake succeeded but whose
// CQL session did not start (for another reason than the credentials),
// whether the server refused the TLS connection after the handshake.
// With TLS 1.3 the client's side of the handshake completes before the
// server has judged the client certificate: a server that requires one
// (mutual TLS) refuses it only when the first request arrives, with an
// alert or by closing the connection. The driver then reports whichever
// of those it happens to see first, often an error that names neither
// TLS nor the certificate. When a CQL round trip over TLS (tlsRoundTrip)
// shows such a refusal, its error, which wraps scyllastate.ErrTLS and
// names the likely cause, replaces h.SessionErr.
func confirmTLS(ctx context.Context, cfg *scyllastate.Config, h *diag.HostReport) {
	if !h.TLS || h.DialErr != nil || h.TLSErr != nil || h.SessionErr == nil || errors.Is(h.SessionErr, scyllastate.ErrAuth) {
		// No handshake, a failed one, or a session: the driver's session
		// ran a CQL round trip over TLS, and so did a login refused.
		return
	}
	if err := tlsRoundTrip(ctx, cfg, h.Address); errors.Is(err, scyllastate.ErrTLS) {
		h.SessionErr = err
	}
}

// CQL native protocol framing of the round trip: a version 4 OPTIONS
// request on stream 0, without a body, and the header of any answer
// (SUPPORTED, or an ERROR such as a protocol version it does not speak).
const (
	cqlVersion4     = 0x04
	cqlResponseFlag = 0x80
	cqlOpOptions    = 0x05
	cqlHeaderLen    = 9
)

// TLS alerts (RFC 8446, 6.2) by which a server refuses a client
// certificate.
const (
	alertCertificateRequired tls.AlertError = 116
	alertBadCertificate      tls.AlertError = 42
	alertUnsupportedCert     tls.AlertError = 43
	alertCertificateRevoked  tls.AlertError = 44
	alertCertificateExpired  tls.AlertError = 45
	alertCertificateUnknown  tls.AlertError = 46
	alertUnknownCA           tls.AlertError = 48
	alertAccessDenied        tls.AlertError = 49
)

// tlsRoundTrip opens a TLS connection to addr (ip:port) with the settings
// of cfg.TLS, as the driver does, sends a CQL OPTIONS request and reads
// the header of the answer. It returns nil when the server answers in
// CQL. The handshake is bounded by connect_timeout, the answer by
// timeout. The error wraps scyllastate.ErrTLS when the server refused
// the connection after the handshake (an alert, or the connection closed
// without an answer), naming the likely cause; else
// scyllastate.ErrConnect (no answer in time, an answer that is not CQL).
func tlsRoundTrip(ctx context.Context, cfg *scyllastate.Config, addr string) error {
	ip, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", scyllastate.ErrConnect, addr, err)
	}
	tc, err := cfg.TLS.ClientConfig(ip)
	if err != nil {
		return fmt.Errorf("%w: %w", scyllastate.ErrTLS, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.Timeout)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer dcancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: TCP to %s: %w", scyllastate.ErrConnect, addr, err)
	}
	conn := tls.Client(raw, tc)
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	if err := conn.HandshakeContext(dctx); err != nil {
		if dctx.Err() != nil {
			return fmt.Errorf("%w: TLS handshake with %s: no answer within connect_timeout: %w", scyllastate.ErrConnect, addr, err)
		}
		// ProbeHost's handshake succeeded: this one failing is news.
		return fmt.Errorf("%w: handshake with %s: %w", scyllastate.ErrTLS, addr, err)
	}
	version := tls.VersionName(conn.ConnectionState().Version)
	deadline := time.Now().Add(cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	// A refusal may already have closed the connection: the write fails
	// then, and the read still returns the alert when it arrived.
	_, werr := conn.Write([]byte{cqlVersion4, 0, 0, 0, cqlOpOptions, 0, 0, 0, 0})
	var header [cqlHeaderLen]byte
	_, err = io.ReadFull(conn, header[:])
	if err == nil && header[0]&cqlResponseFlag == 0 {
		return fmt.Errorf("%w: %s answered a CQL request over %s with bytes that are not a CQL answer (%x)", scyllastate.ErrConnect, addr, version, header)
	}
	if err == nil {
		return nil
	}
	if werr != nil && !isRemoteAlert(err) {
		err = errors.Join(err, werr)
	}
	if refused(err) {
		return fmt.Errorf("%w: %s: %s: %w", scyllastate.ErrTLS, addr, refusalReason(cfg.TLS, err), err)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return fmt.Errorf("%w: %s did not answer a CQL request over %s within timeout: %w", scyllastate.ErrConnect, addr, version, err)
}

// refused tells whether err, read after a completed handshake, is the
// server ending the connection: an alert, the end of the stream, or a
// reset (a server that closes with the request unread resets the
// connection, and the reset can overtake its alert).
func refused(err error) bool {
	return isRemoteAlert(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// isRemoteAlert tells whether err is an alert sent by the server, any of
// alerts when some are given.
func isRemoteAlert(err error, alerts ...tls.AlertError) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	if len(alerts) == 0 {
		return true
	}
	// The package's alert type is unexported; its text is AlertError's.
	for _, a := range alerts {
		if op.Err.Error() == a.Error() {
			return true
		}
	}
	return false
}

// refusalReason says in words why the server refused the connection
// after the handshake, naming the settings to check.
func refusalReason(t *scyllastate.TLSConfig, err error) string {
	noCert := t.CertFile == ""
	switch {
	case isRemoteAlert(err, alertCertificateRequired) && noCert:
		return "the server requires a client certificate and none is configured (set tls.cert_file and tls.key_file)"
	case isRemoteAlert(err, alertCertificateRequired):
		return "the server requires a client certificate and none was sent: the one of tls.cert_file is not signed by an authority the server trusts"
	case isRemoteAlert(err, alertBadCertificate, alertUnsupportedCert, alertCertificateRevoked, alertCertificateExpired,
		alertCertificateUnknown, alertUnknownCA, alertAccessDenied):
		return "the server refused the client certificate of tls.cert_file (it must be valid and signed by an authority the server trusts)"
	case isRemoteAlert(err):
		return "the server ended TLS with an alert (its log says why)"
	case noCert:
		return "the server closed the connection without answering a CQL request, as one that requires a client certificate does (set tls.cert_file and tls.key_file)"
	}
	return "the server closed the connection without answering a CQL request, as one that refuses the client certificate does (check the certificate of tls.cert_file)"
}

// refusalHint is the hint of a TLS connection refused after the
// handshake.
func refusalHint(cfg *scyllastate.Config) string {
	if cfg.TLS == nil || cfg.TLS.CertFile == "" {
		return "the server requires a client certificate (mutual TLS): set state.scyllastate.tls.cert_file and tls.key_file to a certificate signed by an authority the server trusts"
	}
	return "the server refused the client certificate of state.scyllastate.tls.cert_file: it must be valid and signed by an authority in the server's truststore (client_encryption_options)"
}
