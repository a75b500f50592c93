// Package cqlprobe is the small CQL client of the Cassandra harness: it
// checks that a node serves CQL and that a login works (password
// authentication, mutual TLS with the instance's PEM files), and runs the
// statements of `scripts/cassandra.sh cql`, printing the rows. It uses the
// module's driver (gocql, replaced by scylladb/gocql). The command
// scripts/cqlprobe runs it alone: `go run ./scripts/cqlprobe -h`.
package cqlprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Exit statuses of Run.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitAuth     = 2
	ExitBadUsage = 3
)

// PasswordEnv names the variable (of getenv in Run) holding the password.
const PasswordEnv = passwordEnv

// Run is the probe's command line (see the usage text) without the
// process: the password comes from getenv(PasswordEnv); it returns the exit
// status. It ends early when ctx does.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "cqlprobe: %v\n", err)
		return ExitBadUsage
	}
	if err := probe(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "cqlprobe: %v\n", err)
		if isAuthError(err) {
			return ExitAuth
		}
		return ExitFailure
	}
	return ExitOK
}

// clusterConfig is the driver configuration for o.
func clusterConfig(o options, stderr io.Writer) *gocql.ClusterConfig {
	c := gocql.NewCluster(o.hosts...)
	c.Port = o.port
	c.Consistency = o.consistency
	c.Timeout = o.timeout
	c.ConnectTimeout = o.connectTimeout
	c.WriteTimeout = o.timeout
	c.MaxWaitSchemaAgreement = o.timeout
	c.NumConns = 1
	c.HostFilter = gocql.WhiteListHostFilter(o.hosts...)
	c.ReconnectionPolicy = &gocql.ConstantReconnectionPolicy{MaxRetries: 1, Interval: time.Second}
	c.Logger = log.New(io.Discard, "", 0)
	if o.verbose {
		c.Logger = log.New(stderr, "gocql: ", log.LstdFlags)
	}
	if o.user != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: o.user, Password: o.password}
	}
	if o.tls() {
		c.SslOpts = &gocql.SslOptions{
			Config:                 &tls.Config{MinVersion: tls.VersionTLS12},
			CaPath:                 o.ca,
			CertPath:               o.cert,
			KeyPath:                o.key,
			EnableHostVerification: true,
		}
	}
	return c
}

// probe connects and runs the statements (or the login check).
func probe(ctx context.Context, o options, stdout, stderr io.Writer) error {
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	s, err := connect(cctx, clusterConfig(o, stderr))
	if err != nil {
		return err
	}
	defer s.Close()

	if o.login {
		var version string
		qctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		if err := s.Query(defaultStatement).WithContext(qctx).Scan(&version); err != nil {
			return fmt.Errorf("connected to %s but %q failed: %w", strings.Join(o.hosts, ","), defaultStatement, err)
		}
		who := "without authentication"
		if o.user != "" {
			who = "as " + o.user
		}
		tlsDesc := ""
		if o.tls() {
			tlsDesc = " over TLS"
		}
		_, err := fmt.Fprintf(stdout, "login ok %s%s on %s (Cassandra %s)\n", who, tlsDesc, strings.Join(o.hosts, ","), version)
		return err
	}
	for _, stmt := range o.statements {
		if err := execute(ctx, s, stmt, o.timeout, stdout); err != nil {
			return err
		}
	}
	return nil
}

// connect creates the session within ctx. The driver takes no context for
// this: it runs in a goroutine bounded by the driver's own connect and
// query timeouts; if ctx ends first, that goroutine closes the session it
// may still get.
func connect(ctx context.Context, c *gocql.ClusterConfig) (*gocql.Session, error) {
	type result struct {
		s   *gocql.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.CreateSession()
		done <- result{s, err}
	}()
	where := fmt.Sprintf("%s port %d", strings.Join(c.Hosts, ","), c.Port)
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", where, r.err)
		}
		return r.s, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to %s: %w", where, ctx.Err())
	}
}

// execute runs one statement within its own timeout and prints its rows.
func execute(ctx context.Context, s *gocql.Session, stmt string, timeout time.Duration, out io.Writer) error {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	it := s.Query(stmt).WithContext(qctx).Iter()
	if err := printRows(it, out); err != nil {
		_ = it.Close()
		return fmt.Errorf("%q: %w", stmt, err)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%q: %w", stmt, err)
	}
	return nil
}

// isAuthError tells whether the server refused the credentials. The driver
// wraps the server's error as text when it creates the session.
func isAuthError(err error) bool {
	var re gocql.RequestError
	if errors.As(err, &re) && re.Code() == gocql.ErrCodeCredentials {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "Provided username") || strings.Contains(msg, "authentication failed") ||
		strings.Contains(msg, "AuthenticationException")
}
