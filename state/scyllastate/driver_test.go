package scyllastate

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// TestClusterConfigMapsEveryField shows that each connection setting
// reaches the driver.
func TestClusterConfigMapsEveryField(t *testing.T) {
	cfg := fullConfig()
	cfg.TLS = &TLSConfig{}
	c, err := cfg.clusterConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Hosts, ",") != "a.example,b.example:9142" || c.Port != 9043 {
		t.Errorf("hosts/port: %v %d", c.Hosts, c.Port)
	}
	if c.Consistency != gocql.EachQuorum || c.SerialConsistency != gocql.Serial {
		t.Errorf("consistency: %v / %v", c.Consistency, c.SerialConsistency)
	}
	if c.Timeout != 7*time.Second || c.ConnectTimeout != 3*time.Second {
		t.Errorf("timeouts: %v %v", c.Timeout, c.ConnectTimeout)
	}
	if c.NumConns != 4 || c.PageSize != 250 || c.MaxPreparedStmts != 77 {
		t.Errorf("num_conns/page_size/prepared cache: %d %d %d", c.NumConns, c.PageSize, c.MaxPreparedStmts)
	}
	auth, ok := c.Authenticator.(gocql.PasswordAuthenticator)
	if !ok || auth.Username != "svc" || auth.Password != "s3cret-pw" {
		t.Errorf("authenticator: %#v", c.Authenticator)
	}
	rp, ok := c.RetryPolicy.(*retryPolicy)
	if !ok || rp.NumRetries != 0 || rp.Min != 50*time.Millisecond || rp.Max != 2*time.Second {
		t.Errorf("retry policy: %#v", c.RetryPolicy)
	}
	if c.SslOpts != nil {
		t.Error("TLS disabled but SslOpts set")
	}
	if p := fmt.Sprintf("%T", c.PoolConfig.HostSelectionPolicy); p != "*gocql.tokenAwareHostPolicy" {
		t.Errorf("token+dc aware: policy %s", p)
	}

	cfg.TokenAwareRouting = false
	c, _ = cfg.clusterConfig(nil)
	if p := fmt.Sprintf("%T", c.PoolConfig.HostSelectionPolicy); p != "*gocql.dcAwareRR" {
		t.Errorf("dc aware only: policy %s", p)
	}
	cfg.DCAwareRouting = false
	c, _ = cfg.clusterConfig(nil)
	if p := fmt.Sprintf("%T", c.PoolConfig.HostSelectionPolicy); p != "*gocql.roundRobinHostPolicy" {
		t.Errorf("no routing options: policy %s", p)
	}
	cfg.Username, cfg.Password = "", ""
	c, _ = cfg.clusterConfig(nil)
	if c.Authenticator != nil {
		t.Error("authenticator set without credentials")
	}
}

func TestClusterConfigTLS(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tls   TLSConfig
		field string
	}{
		{TLSConfig{Enabled: true, CAFile: missing}, "tls.ca_file"},
		{TLSConfig{Enabled: true, CAFile: notPEM}, "tls.ca_file"},
		{TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}, "tls.cert_file"},
	} {
		cfg := &Config{TLS: &tc.tls}
		_ = cfg.Default()
		_, err := cfg.clusterConfig(nil)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: want error naming %s, got %v", tc.tls, tc.field, err)
		}
	}
	cfg := &Config{TLS: &TLSConfig{Enabled: true, InsecureSkipVerify: true}}
	_ = cfg.Default()
	c, err := cfg.clusterConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SslOpts == nil || !c.SslOpts.Config.InsecureSkipVerify || c.SslOpts.EnableHostVerification {
		t.Fatalf("insecure_skip_verify not applied: %#v", c.SslOpts)
	}
	cfg.TLS.InsecureSkipVerify = false
	c, _ = cfg.clusterConfig(nil)
	if c.SslOpts.Config.InsecureSkipVerify || !c.SslOpts.EnableHostVerification {
		t.Fatal("TLS must verify the server by default")
	}
}

func TestSplitTokenRingCoversRing(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 32, 1000} {
		r := splitTokenRing(n)
		if len(r) != n {
			t.Fatalf("n=%d: %d ranges", n, len(r))
		}
		if r[0].lo != math.MinInt64 || r[n-1].hi != math.MaxInt64 {
			t.Fatalf("n=%d: ring not covered: %v..%v", n, r[0].lo, r[n-1].hi)
		}
		for i := 1; i < n; i++ {
			if r[i].lo != r[i-1].hi+1 || r[i].lo > r[i].hi {
				t.Fatalf("n=%d: gap or overlap at %d: %+v %+v", n, i, r[i-1], r[i])
			}
		}
	}
}

func TestReplicationMap(t *testing.T) {
	cfg := &Config{ReplicationStrategy: NetworkTopologyStrategy, DCReplication: map[string]int{"dc2": 2, "dc1": 3}}
	if got := cfg.replicationMap(); got != "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}" {
		t.Fatal(got)
	}
	cfg = &Config{ReplicationStrategy: SimpleStrategy, ReplicationFactor: 3}
	if got := cfg.replicationMap(); got != "{'class': 'SimpleStrategy', 'replication_factor': 3}" {
		t.Fatal(got)
	}
}

// The endpoint in connection errors gives the port setting only for the
// hosts it applies to.
func TestEndpointNamesThePortOnlyForHostsWithoutOne(t *testing.T) {
	cfg := &Config{Port: 9042, Keyspace: "pins"}
	for _, tc := range []struct {
		hosts []string
		want  string
	}{
		{[]string{"db1", "db2"}, "[db1 db2] (port 9042, keyspace pins)"},
		{[]string{"127.0.0.1:29999"}, "[127.0.0.1:29999] (keyspace pins)"},
		{[]string{"db1", "db2:19042"}, "[db1 db2:19042] (port 9042 for the hosts without one, keyspace pins)"},
	} {
		cfg.Hosts = tc.hosts
		if got := cfg.endpoint(); got != tc.want {
			t.Errorf("hosts %v: endpoint %q, want %q", tc.hosts, got, tc.want)
		}
	}
}
