package cqlprobe

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// passwordEnv names the environment variable holding the password: a flag
// would show it in the process list.
const passwordEnv = "CQLPROBE_PASSWORD"

// defaultStatement is what runs when no statement is given.
const defaultStatement = "SELECT release_version FROM system.local"

// errUsage marks a command line that cannot run; the message says which
// flag is wrong and how to fix it.
var errUsage = errors.New("usage")

// options is the parsed command line.
type options struct {
	hosts          []string
	port           int
	user           string
	password       string // never printed
	ca, cert, key  string
	consistency    gocql.Consistency
	timeout        time.Duration
	connectTimeout time.Duration
	login          bool
	verbose        bool
	statements     []string
}

func (o options) tls() bool { return o.ca != "" || o.cert != "" || o.key != "" }

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// parseOptions reads the flags and the statements. getenv supplies the
// password. A request for help returns flag.ErrHelp after printing the
// usage to out.
func parseOptions(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var (
		o                 options
		hosts, cons       string
		fs                = flag.NewFlagSet("cqlprobe", flag.ContinueOnError)
		defaultTimeout    = 20 * time.Second
		defaultConnect    = 5 * time.Second
		defaultConsistent = "LOCAL_ONE"
	)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, `Usage: cqlprobe -hosts IP[,IP...] [flags] [STATEMENT...]

A small CQL client for scripts/cassandra.sh: it connects (password
authentication, mutual TLS) through the listed hosts only, runs each
STATEMENT in order and prints the rows, one per line, columns separated
by " | " (null for a missing value). Without a statement it runs
%q. The password comes from $%s.

Exit status: 0 success, 1 failure, 2 authentication refused, 3 bad usage.

Flags:
`, defaultStatement, passwordEnv)
		fs.PrintDefaults()
	}
	fs.StringVar(&hosts, "hosts", "", "comma-separated `IP`s or names to connect through (required); no other node coordinates")
	fs.IntVar(&o.port, "port", 9042, "native protocol (CQL) `port`")
	fs.StringVar(&o.user, "user", "", "log in as `USER` (PasswordAuthenticator); the password comes from $"+passwordEnv)
	fs.StringVar(&o.ca, "ca", "", "TLS: CA certificate `PEM` file; the server certificate must match the host (SAN)")
	fs.StringVar(&o.cert, "cert", "", "TLS: client certificate `PEM` file (mutual TLS; needs -key)")
	fs.StringVar(&o.key, "key", "", "TLS: unencrypted client key `PEM` file (needs -cert)")
	fs.StringVar(&cons, "consistency", defaultConsistent, "consistency `level` of every statement (ONE, LOCAL_QUORUM, EACH_QUORUM, ALL...)")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "time limit of each statement (and of the whole connection set-up)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", defaultConnect, "time limit of each connection attempt")
	fs.BoolVar(&o.login, "login", false, "only check that the connection (and the login, with -user) works; prints one line")
	fs.BoolVar(&o.verbose, "v", false, "log the driver's messages to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError("%v", err)
	}

	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.Contains(h, ":") && net.ParseIP(h) == nil {
			return o, usageError("-hosts: %q: give the port with -port, not host:port", h)
		}
		o.hosts = append(o.hosts, h)
	}
	if len(o.hosts) == 0 {
		return o, usageError("-hosts is required (e.g. -hosts 127.0.0.1,127.0.0.2)")
	}
	if o.port < 1 || o.port > 65535 {
		return o, usageError("-port %d is not a TCP port (1-65535)", o.port)
	}
	c, err := gocql.ParseConsistencyWrapper(cons)
	if err != nil {
		return o, usageError("-consistency %q: want ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE", cons)
	}
	o.consistency = c
	if o.timeout <= 0 {
		return o, usageError("-timeout must be positive (e.g. 20s), not %v", o.timeout)
	}
	if o.connectTimeout <= 0 {
		return o, usageError("-connect-timeout must be positive (e.g. 5s), not %v", o.connectTimeout)
	}
	if (o.cert == "") != (o.key == "") {
		return o, usageError("-cert and -key go together (mutual TLS needs both the certificate and its key)")
	}
	if o.user != "" {
		o.password = getenv(passwordEnv)
		if o.password == "" {
			return o, usageError("-user %q needs the password in $%s", o.user, passwordEnv)
		}
	}
	o.statements = fs.Args()
	if o.login && len(o.statements) > 0 {
		return o, usageError("-login runs no statement: drop %q or -login", o.statements[0])
	}
	if len(o.statements) == 0 && !o.login {
		o.statements = []string{defaultStatement}
	}
	for i, s := range o.statements {
		if strings.TrimSpace(s) == "" {
			return o, usageError("statement %d is empty", i+1)
		}
	}
	return o, nil
}
