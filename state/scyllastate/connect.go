package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// connect creates the driver session. It retries while the database is
// unreachable, with exponential backoff (retry_policy delays), either
// retry_policy.num_retries times or, with untilDone, until ctx ends.
// Errors that no retry can fix (credentials refused, a TLS failure) end it
// at once, wrapping ErrAuth or ErrTLS; the others wrap ErrConnect.
//
// newCluster builds the driver configuration for each attempt: a session
// owns its host selection policy, which cannot be reused.
func connect(ctx context.Context, cfg *Config, newCluster func() (*gocql.ClusterConfig, error), untilDone bool, hint string) (*gocql.Session, error) {
	rp := cfg.RetryPolicy
	delay := rp.MinRetryDelay
	for attempt := 1; ; attempt++ {
		cluster, err := newCluster()
		if err != nil {
			return nil, err
		}
		session, err := createSession(ctx, cluster)
		if err == nil {
			return session, nil
		}
		err = classifyConnectError(cfg, err)
		if !errors.Is(err, ErrConnect) || ctx.Err() != nil {
			return nil, err
		}
		if !untilDone && attempt > rp.NumRetries {
			return nil, err
		}
		logger.Warnf("database unreachable, retrying in %s (attempt %d%s): %s%s", delay, attempt, hintText(hint), err, tlsHint(cfg, err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(delay*2, rp.MaxRetryDelay)
	}
}

// createSession runs the driver's blocking CreateSession so that ctx can
// abandon it. An abandoned session is closed by the goroutine that made
// it, which ends within the connect timeout.
func createSession(ctx context.Context, cluster *gocql.ClusterConfig) (*gocql.Session, error) {
	type result struct {
		s   *gocql.Session
		err error
	}
	ch := make(chan result) // unbuffered: a send succeeds only while connect waits
	go func() {
		s, err := cluster.CreateSession()
		select {
		case ch <- result{s, err}:
		case <-ctx.Done():
			if s != nil {
				s.Close()
			}
		}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func hintText(hint string) string {
	if hint == "" {
		return ""
	}
	return "; " + hint
}

// tlsHint suggests TLS when a plain client sees the connection dropped,
// which is what a server that requires TLS does.
func tlsHint(cfg *Config, err error) string {
	msg := strings.ToLower(err.Error())
	if (cfg.TLS == nil || !cfg.TLS.Enabled) && (strings.Contains(msg, "connection reset") || strings.Contains(msg, "eof")) {
		return " (the server closed the connection: if it requires TLS, set scyllastate.tls.enabled)"
	}
	return ""
}

// Messages by which the driver reports failures that retrying cannot fix.
// The driver formats its errors with %v, so they can only be told apart
// by their text.
var (
	authMessages = []string{
		"authentication required", "username and/or password are incorrect",
		"provided username", "bad credentials", "authenticationexception",
	}
	noTLSMessages  = []string{"first record does not look like a tls handshake"}
	tlsMessages    = []string{"x509:", "tls:", "certificate"}
	contextRelated = []string{context.Canceled.Error(), context.DeadlineExceeded.Error()}
)

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// classifyConnectError wraps a session error with ErrAuth, ErrTLS or
// ErrConnect, with a hint naming the settings involved.
func classifyConnectError(cfg *Config, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case containsAny(msg, contextRelated):
		return fmt.Errorf("%w: %s: %w", ErrConnect, cfg.endpoint(), err)
	case containsAny(msg, authMessages) && cfg.Username == "":
		return fmt.Errorf("%w: %s requires authentication: set scyllastate.username and scyllastate.password "+
			"(or CLUSTER_SCYLLASTATE_USERNAME and CLUSTER_SCYLLASTATE_PASSWORD): %w", ErrAuth, cfg.endpoint(), err)
	case containsAny(msg, authMessages):
		return fmt.Errorf("%w: %s refused the credentials of scyllastate.username %q (check username and password): %w",
			ErrAuth, cfg.endpoint(), cfg.Username, err)
	case containsAny(msg, noTLSMessages):
		return fmt.Errorf("%w: %s does not speak TLS (scyllastate.tls.enabled is true: check the port or disable TLS): %w",
			ErrTLS, cfg.endpoint(), err)
	case containsAny(msg, tlsMessages):
		return fmt.Errorf("%w: TLS with %s failed (check scyllastate.tls: ca_file, cert_file, key_file): %w",
			ErrTLS, cfg.endpoint(), err)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnect, cfg.endpoint(), err)
}
