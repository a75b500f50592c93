package cqlprobe

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseOptionsDefaultsRunTheVersionQueryAtLocalOne(t *testing.T) {
	o, err := parseOptions([]string{"-hosts", "127.0.0.1, 127.0.0.2,"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	if got := strings.Join(o.hosts, ","); got != "127.0.0.1,127.0.0.2" {
		t.Errorf("hosts = %q, want 127.0.0.1,127.0.0.2 (spaces and empty entries dropped)", got)
	}
	if o.port != 9042 || o.consistency != gocql.LocalOne || o.timeout != 20*time.Second || o.connectTimeout != 5*time.Second {
		t.Errorf("defaults: port %d consistency %v timeout %v connect %v", o.port, o.consistency, o.timeout, o.connectTimeout)
	}
	if len(o.statements) != 1 || o.statements[0] != defaultStatement {
		t.Errorf("statements = %q, want the default %q", o.statements, defaultStatement)
	}
	if o.tls() || o.user != "" || o.login {
		t.Errorf("TLS, user or login set without flags: %+v", o)
	}
}

func TestParseOptionsReadsAuthTLSAndStatementsInOrder(t *testing.T) {
	o, err := parseOptions([]string{
		"-hosts", "127.0.0.2", "-port", "19042", "-user", "cassandra",
		"-ca", "/tls/ca.pem", "-cert", "/tls/client.pem", "-key", "/tls/client-key.pem",
		"-consistency", "each_quorum", "-timeout", "3s", "-connect-timeout", "1s",
		"CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
		"SELECT * FROM k.t",
	}, env(map[string]string{passwordEnv: "s3cret"}), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	if o.port != 19042 || o.user != "cassandra" || o.password != "s3cret" {
		t.Errorf("port/user/password = %d/%q/%q", o.port, o.user, o.password)
	}
	if !o.tls() || o.ca != "/tls/ca.pem" || o.cert != "/tls/client.pem" || o.key != "/tls/client-key.pem" {
		t.Errorf("TLS files = %q %q %q", o.ca, o.cert, o.key)
	}
	if o.consistency != gocql.EachQuorum || o.timeout != 3*time.Second || o.connectTimeout != time.Second {
		t.Errorf("consistency %v timeout %v connect %v", o.consistency, o.timeout, o.connectTimeout)
	}
	if len(o.statements) != 2 || !strings.HasPrefix(o.statements[0], "CREATE KEYSPACE") || o.statements[1] != "SELECT * FROM k.t" {
		t.Errorf("statements = %q", o.statements)
	}
	c := clusterConfig(o, &bytes.Buffer{})
	if c.SslOpts == nil || !c.SslOpts.EnableHostVerification || c.SslOpts.CaPath != o.ca {
		t.Errorf("driver TLS options = %+v, want host verification against %s", c.SslOpts, o.ca)
	}
	if a, ok := c.Authenticator.(gocql.PasswordAuthenticator); !ok || a.Username != "cassandra" {
		t.Errorf("authenticator = %#v, want cassandra's password login", c.Authenticator)
	}
	if c.HostFilter == nil {
		t.Error("no host filter: other nodes than -hosts could coordinate")
	}
}

func TestParseOptionsLoginRunsNoStatement(t *testing.T) {
	o, err := parseOptions([]string{"-hosts", "127.0.0.1", "-login"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	if !o.login || len(o.statements) != 0 {
		t.Errorf("login %v statements %q, want login and none", o.login, o.statements)
	}
}

func TestParseOptionsRejectsBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in the message
	}{
		{"no hosts", nil, nil, "-hosts is required"},
		{"empty hosts", []string{"-hosts", " , "}, nil, "-hosts is required"},
		{"host with port", []string{"-hosts", "127.0.0.1:9042"}, nil, "-port"},
		{"port out of range", []string{"-hosts", "h", "-port", "70000"}, nil, "-port 70000"},
		{"unknown consistency", []string{"-hosts", "h", "-consistency", "MOST"}, nil, `-consistency "MOST"`},
		{"zero timeout", []string{"-hosts", "h", "-timeout", "0s"}, nil, "-timeout must be positive"},
		{"negative connect timeout", []string{"-hosts", "h", "-connect-timeout", "-1s"}, nil, "-connect-timeout"},
		{"cert without key", []string{"-hosts", "h", "-cert", "c.pem"}, nil, "-cert and -key"},
		{"key without cert", []string{"-hosts", "h", "-key", "k.pem"}, nil, "-cert and -key"},
		{"user without password", []string{"-hosts", "h", "-user", "cassandra"}, nil, passwordEnv},
		{"login with a statement", []string{"-hosts", "h", "-login", "SELECT 1"}, nil, "-login runs no statement"},
		{"blank statement", []string{"-hosts", "h", "SELECT x FROM y", "  "}, nil, "statement 2 is empty"},
		{"unknown flag", []string{"-hosts", "h", "-nope"}, nil, "-nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOptions(tc.args, env(tc.env), &bytes.Buffer{})
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestHelpPrintsUsageAndExitsZero(t *testing.T) {
	var out bytes.Buffer
	_, err := parseOptions([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "Usage: cqlprobe") || !strings.Contains(out.String(), passwordEnv) {
		t.Errorf("usage text lacks the synopsis or the password variable:\n%s", out.String())
	}
	var stderr bytes.Buffer
	if code := Run(context.Background(), []string{"-h"}, env(nil), &bytes.Buffer{}, &stderr); code != ExitOK {
		t.Errorf("run -h = %d, want %d", code, ExitOK)
	}
	if code := Run(context.Background(), nil, env(nil), &bytes.Buffer{}, &stderr); code != ExitBadUsage {
		t.Errorf("run without -hosts = %d, want %d", code, ExitBadUsage)
	}
}

func TestThePasswordIsNeverPrinted(t *testing.T) {
	var stderr bytes.Buffer
	code := Run(context.Background(), []string{"-hosts", "h", "-user", "u", "-cert", "c.pem"}, env(map[string]string{passwordEnv: "pw-123"}), &bytes.Buffer{}, &stderr)
	if code != ExitBadUsage {
		t.Fatalf("exit %d, want %d", code, ExitBadUsage)
	}
	if strings.Contains(stderr.String(), "pw-123") {
		t.Errorf("the password appears in the error output: %s", stderr.String())
	}
}

func TestFormatValueTellsNullFromZero(t *testing.T) {
	empty := ""
	var nilStr *string
	n := 0
	u, _ := gocql.ParseUUID("5b06c88e-ee2e-450f-88fd-cd8dcf27a806")
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	blob := []byte{0xca, 0xfe}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nilStr, "null"},
		{&empty, ""},
		{&n, "0"},
		{&u, "5b06c88e-ee2e-450f-88fd-cd8dcf27a806"},
		{&when, "2026-01-02T03:04:05Z"},
		{&blob, "0xcafe"},
	} {
		if got := formatValue(tc.v); got != tc.want {
			t.Errorf("formatValue(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
