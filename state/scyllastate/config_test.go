package scyllastate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultFillsOnlyUnsetFields(t *testing.T) {
	// The usage guide's Quick Start: set some fields, then Default().
	cfg := &Config{
		Hosts:       []string{"10.0.0.1", "10.0.0.2:9142"},
		Port:        19042,
		Keyspace:    "my_pins",
		Consistency: "QUORUM",
		Timeout:     3 * time.Second,
	}
	if err := cfg.Default(); err != nil {
		t.Fatal(err)
	}
	if cfg.Hosts[1] != "10.0.0.2:9142" || cfg.Port != 19042 || cfg.Keyspace != "my_pins" ||
		cfg.Consistency != "QUORUM" || cfg.Timeout != 3*time.Second {
		t.Fatalf("Default overwrote fields that were set: %+v", cfg)
	}
	if cfg.ConnectTimeout != DefaultConnectTimeout || cfg.PageSize != DefaultPageSize ||
		cfg.RetryPolicy == nil || cfg.RetryPolicy.NumRetries != DefaultNumRetries || cfg.TLS == nil ||
		cfg.SchemaMode != SchemaModeCreate || cfg.ListConcurrency != DefaultListConcurrency {
		t.Fatalf("Default did not fill unset fields: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestDefaultsValidate(t *testing.T) {
	cfg := &Config{}
	_ = cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Hosts[0] != DefaultHost || cfg.Port != DefaultPort || cfg.Keyspace != DefaultKeyspace ||
		cfg.Consistency != DefaultConsistency || cfg.SerialConsistency != DefaultSerialConsistency {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func fullConfig() *Config {
	return &Config{
		Hosts:                      []string{"a.example", "b.example:9142"},
		Port:                       9043,
		Keyspace:                   "cluster_pins",
		Username:                   "svc",
		Password:                   "s3cret-pw",
		Consistency:                "EACH_QUORUM",
		SerialConsistency:          "SERIAL",
		Timeout:                    7 * time.Second,
		ConnectTimeout:             3 * time.Second,
		NumConns:                   4,
		TokenAwareRouting:          true,
		DCAwareRouting:             true,
		LocalDC:                    "dc1",
		PageSize:                   250,
		PreparedStatementCacheSize: 77,
		TLS:                        &TLSConfig{Enabled: true, CertFile: "/c.pem", KeyFile: "/k.pem", CAFile: "/ca.pem", InsecureSkipVerify: true},
		RetryPolicy:                &RetryPolicyConfig{NumRetries: 0, MinRetryDelay: 50 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
		MetricsEnabled:             true,
		SchemaMode:                 SchemaModeCheck,
		ReplicationStrategy:        NetworkTopologyStrategy,
		ReplicationFactor:          1,
		DCReplication:              map[string]int{"dc1": 3, "dc2": 2},
		BatchSize:                  123,
		WriteConcurrency:           5,
		ListConcurrency:            6,
		EventRetention:             36 * time.Hour,
		EventPartitions:            12,
	}
}

func TestJSONRoundTrip(t *testing.T) {
	cfg := fullConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	raw, err := cfg.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"timeout": "7s"`) {
		t.Errorf("durations must be strings in JSON: %s", raw)
	}
	got := &Config{}
	if err := got.LoadJSON(raw); err != nil {
		t.Fatal(err)
	}
	raw2, _ := got.ToJSON()
	if string(raw) != string(raw2) {
		t.Fatalf("JSON round trip changed the config:\n%s\n---\n%s", raw, raw2)
	}
	if got.RetryPolicy.NumRetries != 0 {
		t.Fatalf("explicit num_retries 0 was replaced by %d", got.RetryPolicy.NumRetries)
	}
}

func TestLoadJSONKeepsDefaultsForAbsentFields(t *testing.T) {
	cfg := &Config{}
	if err := cfg.LoadJSON([]byte(`{"hosts":["db1"],"keyspace":"ks1","retry_policy":{"num_retries":7}}`)); err != nil {
		t.Fatal(err)
	}
	if cfg.Hosts[0] != "db1" || cfg.Keyspace != "ks1" || cfg.Port != DefaultPort ||
		cfg.Timeout != DefaultTimeout || cfg.RetryPolicy.NumRetries != 7 ||
		cfg.RetryPolicy.MinRetryDelay != DefaultMinRetryDelay {
		t.Fatalf("unexpected config: %+v %+v", cfg, cfg.RetryPolicy)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadJSONErrors(t *testing.T) {
	for _, tc := range []struct{ raw, field string }{
		{`{"timeout":"ten seconds"}`, "timeout"},
		{`{"retry_policy":{"min_retry_delay":"x"}}`, "retry_policy.min_retry_delay"},
		{`{"port":"9042"}`, "port"},
	} {
		err := (&Config{}).LoadJSON([]byte(tc.raw))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("LoadJSON(%s) = %v; want an ErrInvalidConfig naming %q", tc.raw, err, tc.field)
		}
	}
}

func TestDisplayJSONHidesPassword(t *testing.T) {
	cfg := fullConfig()
	raw, err := cfg.ToDisplayJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "s3cret-pw") {
		t.Fatalf("ToDisplayJSON shows the password: %s", raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["password"] != "XXX_hidden_XXX" || m["username"] != "svc" {
		t.Fatalf("unexpected display: %s", raw)
	}
	full, _ := cfg.ToJSON()
	if !strings.Contains(string(full), "s3cret-pw") {
		t.Fatal("ToJSON must keep the password: it is what init writes")
	}
}

func TestApplyEnvVars(t *testing.T) {
	t.Setenv("CLUSTER_SCYLLASTATE_HOSTS", "db1:9042,db2")
	t.Setenv("CLUSTER_SCYLLASTATE_KEYSPACE", "env_ks")
	t.Setenv("CLUSTER_SCYLLASTATE_USERNAME", "envuser")
	t.Setenv("CLUSTER_SCYLLASTATE_PASSWORD", "envpass")
	t.Setenv("CLUSTER_SCYLLASTATE_TIMEOUT", "42s")
	t.Setenv("CLUSTER_SCYLLASTATE_TOKENAWAREROUTING", "true")
	t.Setenv("CLUSTER_SCYLLASTATE_TLS_ENABLED", "true")
	t.Setenv("CLUSTER_SCYLLASTATE_TLS_CAFILE", "/etc/ca.pem")
	t.Setenv("CLUSTER_SCYLLASTATE_RETRYPOLICY_NUMRETRIES", "9")
	t.Setenv("CLUSTER_SCYLLASTATE_DCREPLICATION", "dc1:3,dc2:1")
	cfg := &Config{}
	_ = cfg.Default()
	if err := cfg.ApplyEnvVars(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Hosts) != 2 || cfg.Hosts[1] != "db2" || cfg.Keyspace != "env_ks" || cfg.Username != "envuser" ||
		cfg.Password != "envpass" || cfg.Timeout != 42*time.Second || !cfg.TokenAwareRouting ||
		!cfg.TLS.Enabled || cfg.TLS.CAFile != "/etc/ca.pem" || cfg.RetryPolicy.NumRetries != 9 ||
		cfg.DCReplication["dc1"] != 3 || cfg.DCReplication["dc2"] != 1 {
		t.Fatalf("environment not applied: %+v tls=%+v rp=%+v", cfg, cfg.TLS, cfg.RetryPolicy)
	}
	if cfg.PageSize != DefaultPageSize {
		t.Fatal("env overrides changed an unrelated field")
	}
}

func TestApplyEnvVarsBadValue(t *testing.T) {
	t.Setenv("CLUSTER_SCYLLASTATE_TIMEOUT", "soon")
	cfg := &Config{}
	_ = cfg.Default()
	err := cfg.ApplyEnvVars()
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("want an error naming timeout, got %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"no hosts", func(c *Config) { c.Hosts = nil }, "hosts"},
		{"blank host", func(c *Config) { c.Hosts = []string{" "} }, "hosts"},
		{"comma host", func(c *Config) { c.Hosts = []string{"a,b"} }, "hosts"},
		{"host port not a number", func(c *Config) { c.Hosts = []string{"db1", "127.0.0.1:notaport"} }, "hosts"},
		{"host port out of range", func(c *Config) { c.Hosts = []string{"127.0.0.1:99999"} }, "hosts"},
		{"host empty port", func(c *Config) { c.Hosts = []string{"db1:"} }, "hosts"},
		{"host ipv6 with port unbracketed", func(c *Config) { c.Hosts = []string{"fe80::1::9042x"} }, "hosts"},
		{"port 0", func(c *Config) { c.Port = 0 }, "port"},
		{"port high", func(c *Config) { c.Port = 70000 }, "port"},
		{"keyspace injection", func(c *Config) { c.Keyspace = "x; DROP KEYSPACE prod" }, "keyspace"},
		{"keyspace quote", func(c *Config) { c.Keyspace = `"Pins"` }, "keyspace"},
		{"keyspace digit", func(c *Config) { c.Keyspace = "1pins" }, "keyspace"},
		{"keyspace long", func(c *Config) { c.Keyspace = strings.Repeat("k", 49) }, "keyspace"},
		{"keyspace system", func(c *Config) { c.Keyspace = "system_auth" }, "keyspace"},
		{"keyspace empty", func(c *Config) { c.Keyspace = "" }, "keyspace"},
		{"keyspace upper case", func(c *Config) { c.Keyspace = "MyPins" }, "keyspace"},
		{"password only", func(c *Config) { c.Username = ""; c.Password = "x" }, "username"},
		{"username only", func(c *Config) { c.Username = "u"; c.Password = "" }, "password"},
		{"consistency", func(c *Config) { c.Consistency = "MOST" }, "consistency"},
		{"serial consistency", func(c *Config) { c.SerialConsistency = "QUORUM" }, "serial_consistency"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"connect timeout", func(c *Config) { c.ConnectTimeout = -time.Second }, "connect_timeout"},
		{"num conns", func(c *Config) { c.NumConns = 0 }, "num_conns"},
		{"dc aware without dc", func(c *Config) { c.DCAwareRouting = true; c.LocalDC = "" }, "local_dc"},
		{"page size", func(c *Config) { c.PageSize = 0 }, "page_size"},
		{"stmt cache", func(c *Config) { c.PreparedStatementCacheSize = -1 }, "prepared_statement_cache_size"},
		{"tls cert without key", func(c *Config) { c.TLS = &TLSConfig{Enabled: true, CertFile: "/c"} }, "tls.cert_file"},
		{"retries", func(c *Config) { c.RetryPolicy.NumRetries = -1 }, "retry_policy.num_retries"},
		{"min delay", func(c *Config) { c.RetryPolicy.MinRetryDelay = 0 }, "retry_policy.min_retry_delay"},
		{"max delay", func(c *Config) { c.RetryPolicy.MaxRetryDelay = time.Millisecond }, "retry_policy.max_retry_delay"},
		{"schema mode", func(c *Config) { c.SchemaMode = "auto" }, "schema_mode"},
		{"strategy", func(c *Config) { c.ReplicationStrategy = "LocalStrategy" }, "replication_strategy"},
		{"rf", func(c *Config) { c.ReplicationFactor = 0 }, "replication_factor"},
		{"nts without dcs", func(c *Config) { c.ReplicationStrategy = NetworkTopologyStrategy }, "dc_replication"},
		{"nts bad dc", func(c *Config) {
			c.ReplicationStrategy = NetworkTopologyStrategy
			c.DCReplication = map[string]int{"dc1': 3}; DROP": 1}
		}, "dc_replication"},
		{"nts rf 0", func(c *Config) {
			c.ReplicationStrategy = NetworkTopologyStrategy
			c.DCReplication = map[string]int{"dc1": 0}
		}, "dc_replication"},
		{"batch size", func(c *Config) { c.BatchSize = 0 }, "batch_size"},
		{"write concurrency", func(c *Config) { c.WriteConcurrency = 0 }, "write_concurrency"},
		{"list concurrency", func(c *Config) { c.ListConcurrency = 0 }, "list_concurrency"},
		{"event retention", func(c *Config) { c.EventRetention = time.Second }, "event_retention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{}
			_ = cfg.Default()
			tc.mod(cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("want ErrInvalidConfig, got %v", err)
			}
			if !strings.Contains(err.Error(), "scyllastate."+tc.field+":") {
				t.Fatalf("error does not name scyllastate.%s: %v", tc.field, err)
			}
		})
	}
}

func TestValidateAcceptsEveryHostForm(t *testing.T) {
	cfg := &Config{}
	_ = cfg.Default()
	cfg.Hosts = []string{"db1", "db2.example.com:19042", "10.0.0.5", "10.0.0.6:9042", "::1", "[fe80::1]:9042"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUpperCaseKeyspaceIsRefusedWithItsLowerCaseName(t *testing.T) {
	err := ValidateIdentifier("keyspace", "Explore_Upper")
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `"explore_upper"`) {
		t.Fatalf("err = %v, want ErrInvalidConfig suggesting \"explore_upper\"", err)
	}
}

func TestErrorsNeverShowPassword(t *testing.T) {
	cfg := &Config{}
	_ = cfg.Default()
	cfg.Password = "hunter2"
	cfg.Port = 0
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error leaks the password or is missing: %v", err)
	}
	if strings.Contains(cfg.endpoint(), "hunter2") {
		t.Fatal("endpoint description leaks the password")
	}
}
