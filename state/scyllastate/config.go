package scyllastate

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/kelseyhightower/envconfig"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cfgjson"
)

// ConfigKey is the name of the service.json section of this component.
const ConfigKey = "scyllastate"

// envConfigKey is the prefix of the environment variables that override the
// configuration: CLUSTER_SCYLLASTATE_<FIELD>.
const envConfigKey = "cluster_scyllastate"

// Default values. Default() only fills in fields that are unset (zero), so a
// Config literal followed by Default() keeps what the caller set.
const (
	DefaultHost                       = "127.0.0.1"
	DefaultPort                       = 9042
	DefaultKeyspace                   = "ipfs_pins"
	DefaultConsistency                = "LOCAL_QUORUM"
	DefaultSerialConsistency          = "LOCAL_SERIAL"
	DefaultTimeout                    = 10 * time.Second
	DefaultConnectTimeout             = 10 * time.Second
	DefaultNumConns                   = 2
	DefaultPageSize                   = 5000
	DefaultPreparedStatementCacheSize = 1000
	DefaultNumRetries                 = 3
	DefaultMinRetryDelay              = 100 * time.Millisecond
	DefaultMaxRetryDelay              = 10 * time.Second
	DefaultSchemaMode                 = SchemaModeCreate
	DefaultReplicationStrategy        = SimpleStrategy
	DefaultReplicationFactor          = 1
	DefaultBatchSize                  = 10000
	DefaultWriteConcurrency           = 16
	DefaultListConcurrency            = 8
	DefaultEventRetention             = 7 * 24 * time.Hour
	// DefaultEventPartitions spreads the feed's writes over every shard of
	// a 3-node ScyllaDB cluster of 8 shards per node (see docs/cql.md).
	DefaultEventPartitions = 32
	// MaxEventPartitions is the most partitions per bucket: the shard
	// column of pin_events is a tinyint.
	MaxEventPartitions = 128
)

// Schema modes.
const (
	// SchemaModeCreate creates the keyspace (when missing) and the tables
	// (when missing) on New, then checks the schema version.
	SchemaModeCreate = "create"
	// SchemaModeCheck never runs DDL: New fails unless the keyspace and
	// tables exist with the expected schema version. For deployments where
	// the database administrator owns the schema.
	SchemaModeCheck = "check"
)

// Keyspace replication strategies.
const (
	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// ErrInvalidConfig is wrapped by every configuration validation error.
var ErrInvalidConfig = errors.New("invalid scyllastate configuration")

// Config configures the ScyllaDB/Cassandra state store. It implements
// upstream's config.ComponentConfig and lives in the "scyllastate" section
// of service.json.
type Config struct {
	config.Saver

	// Hosts are the contact points ("host" or "host:port").
	Hosts []string
	// Port is the CQL port used for hosts that do not name one.
	Port int
	// Keyspace holding the shared pinset. It must be a plain CQL
	// identifier: it is spliced into DDL.
	Keyspace string
	// Username and Password enable PasswordAuthenticator when set.
	Username string
	Password string
	// Consistency for reads and writes (ONE, QUORUM, LOCAL_QUORUM, ...).
	Consistency string
	// EventConsistency is the consistency of change-feed events. Empty
	// means Consistency. With several data centers and LOCAL_*
	// consistencies, EACH_QUORUM makes a change visible to the peers of
	// every data center once it is acknowledged (see docs/configuration.md).
	EventConsistency string
	// SerialConsistency (SERIAL or LOCAL_SERIAL) is accepted for
	// configurations written by older builds and otherwise unused: the
	// store sends no lightweight transaction.
	SerialConsistency string
	// Timeout of every query.
	Timeout time.Duration
	// ConnectTimeout of every connection attempt.
	ConnectTimeout time.Duration
	// NumConns is the number of connections per host.
	NumConns int
	// TokenAwareRouting sends each query to a replica of its partition.
	TokenAwareRouting bool
	// DCAwareRouting prefers hosts in LocalDC.
	DCAwareRouting bool
	// LocalDC is the local data center, required with DCAwareRouting.
	LocalDC string
	// PageSize is the number of rows fetched per page when listing (reads
	// of the change feed use at most 1000: their rows carry whole pins).
	PageSize int
	// PreparedStatementCacheSize bounds the driver's prepared statement
	// cache.
	PreparedStatementCacheSize int
	// TLS configures client encryption. Nil means disabled.
	TLS *TLSConfig
	// RetryPolicy configures retries of failed queries and of the initial
	// connection. Nil means the defaults.
	RetryPolicy *RetryPolicyConfig
	// MetricsEnabled records Prometheus metrics of every operation.
	MetricsEnabled bool

	// SchemaMode is "create" (create missing keyspace and tables) or
	// "check" (never run DDL; fail when the schema is missing).
	SchemaMode string
	// ReplicationStrategy used when the keyspace is created:
	// SimpleStrategy or NetworkTopologyStrategy.
	ReplicationStrategy string
	// ReplicationFactor for SimpleStrategy.
	ReplicationFactor int
	// DCReplication maps data center names to replication factors for
	// NetworkTopologyStrategy.
	DCReplication map[string]int
	// BatchSize is the number of buffered writes after which a batching
	// state flushes on its own, bounding its memory.
	BatchSize int
	// WriteConcurrency bounds the writes in flight during a batch commit
	// or an Unmarshal.
	WriteConcurrency int
	// ListConcurrency bounds the token ranges scanned in parallel by List,
	// and the change-feed partitions read in parallel by Events.
	ListConcurrency int
	// EventRetention is how long the change feed keeps each pin change
	// (the TTL of its rows). A peer away for longer cannot learn from the
	// feed which pins were removed while it was away.
	EventRetention time.Duration
	// EventPartitions is the number of change-feed partitions per minute
	// that a new keyspace gets (1 to MaxEventPartitions): the feed's writes
	// spread over that many partitions, so over at most that many shards
	// of each replica. The keyspace records it (table feed_layout): peers
	// use the recorded layout, and a peer whose setting differs says so in
	// its log. `ipfs-cluster-service scylla event-partitions` changes it.
	EventPartitions int
}

// TLSConfig configures client-to-node encryption.
type TLSConfig struct {
	// Enabled turns TLS on.
	Enabled bool
	// CertFile and KeyFile are the client certificate and its key (PEM),
	// for servers that require client authentication.
	CertFile string
	KeyFile  string
	// CAFile is the PEM bundle of the authorities that signed the server
	// certificates. Empty means the system pool.
	CAFile string
	// InsecureSkipVerify disables verification of the server certificate
	// and host name. Only for tests.
	InsecureSkipVerify bool
}

// RetryPolicyConfig configures exponential backoff retries.
type RetryPolicyConfig struct {
	// NumRetries is the number of retries after the first attempt.
	NumRetries int
	// MinRetryDelay is the first backoff; it doubles on each retry.
	MinRetryDelay time.Duration
	// MaxRetryDelay caps the backoff.
	MaxRetryDelay time.Duration
}

type jsonTLS struct {
	Enabled            bool   `json:"enabled"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

type jsonRetryPolicy struct {
	NumRetries    int    `json:"num_retries"`
	MinRetryDelay string `json:"min_retry_delay"`
	MaxRetryDelay string `json:"max_retry_delay"`
}

// jsonConfig is the service.json form. Secrets stay top-level because
// upstream's DisplayJSON only hides top-level fields.
type jsonConfig struct {
	Hosts                      []string         `json:"hosts"`
	Port                       int              `json:"port"`
	Keyspace                   string           `json:"keyspace"`
	Username                   string           `json:"username,omitempty"`
	Password                   string           `json:"password,omitempty" hidden:"true"`
	Consistency                string           `json:"consistency"`
	EventConsistency           string           `json:"event_consistency,omitempty"`
	SerialConsistency          string           `json:"serial_consistency"`
	Timeout                    string           `json:"timeout"`
	ConnectTimeout             string           `json:"connect_timeout"`
	NumConns                   int              `json:"num_conns"`
	TokenAwareRouting          bool             `json:"token_aware_routing"`
	DCAwareRouting             bool             `json:"dc_aware_routing"`
	LocalDC                    string           `json:"local_dc,omitempty"`
	PageSize                   int              `json:"page_size"`
	PreparedStatementCacheSize int              `json:"prepared_statement_cache_size"`
	TLS                        *jsonTLS         `json:"tls"`
	RetryPolicy                *jsonRetryPolicy `json:"retry_policy"`
	MetricsEnabled             bool             `json:"metrics_enabled"`
	SchemaMode                 string           `json:"schema_mode"`
	ReplicationStrategy        string           `json:"replication_strategy"`
	ReplicationFactor          int              `json:"replication_factor"`
	DCReplication              map[string]int   `json:"dc_replication,omitempty"`
	BatchSize                  int              `json:"batch_size"`
	WriteConcurrency           int              `json:"write_concurrency"`
	ListConcurrency            int              `json:"list_concurrency"`
	EventRetention             string           `json:"event_retention"`
	EventPartitions            int              `json:"event_partitions"`
}

// ConfigKey returns the service.json section name: "scyllastate".
func (cfg *Config) ConfigKey() string {
	return ConfigKey
}

// Default fills every unset (zero) field with its default value and keeps
// the fields already set. Booleans default to false, except
// TokenAwareRouting, which Default turns on: set it to false after
// Default to route queries round-robin.
func (cfg *Config) Default() error {
	cfg.TokenAwareRouting = true
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{DefaultHost}
	}
	setIfZero(&cfg.Port, DefaultPort)
	setIfEmpty(&cfg.Keyspace, DefaultKeyspace)
	setIfEmpty(&cfg.Consistency, DefaultConsistency)
	setIfEmpty(&cfg.SerialConsistency, DefaultSerialConsistency)
	setIfZero(&cfg.Timeout, DefaultTimeout)
	setIfZero(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setIfZero(&cfg.NumConns, DefaultNumConns)
	setIfZero(&cfg.PageSize, DefaultPageSize)
	setIfZero(&cfg.PreparedStatementCacheSize, DefaultPreparedStatementCacheSize)
	if cfg.TLS == nil {
		cfg.TLS = &TLSConfig{}
	}
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = &RetryPolicyConfig{NumRetries: DefaultNumRetries}
	}
	setIfZero(&cfg.RetryPolicy.MinRetryDelay, DefaultMinRetryDelay)
	setIfZero(&cfg.RetryPolicy.MaxRetryDelay, DefaultMaxRetryDelay)
	setIfEmpty(&cfg.SchemaMode, DefaultSchemaMode)
	setIfEmpty(&cfg.ReplicationStrategy, DefaultReplicationStrategy)
	setIfZero(&cfg.ReplicationFactor, DefaultReplicationFactor)
	setIfZero(&cfg.BatchSize, DefaultBatchSize)
	setIfZero(&cfg.WriteConcurrency, DefaultWriteConcurrency)
	setIfZero(&cfg.ListConcurrency, DefaultListConcurrency)
	setIfZero(&cfg.EventRetention, DefaultEventRetention)
	setIfZero(&cfg.EventPartitions, DefaultEventPartitions)
	return nil
}

func setIfZero[T int | time.Duration](dst *T, v T) {
	if *dst == 0 {
		*dst = v
	}
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// ApplyEnvVars overrides fields from CLUSTER_SCYLLASTATE_* environment
// variables, named after the Go fields (CLUSTER_SCYLLASTATE_HOSTS,
// CLUSTER_SCYLLASTATE_PASSWORD, CLUSTER_SCYLLASTATE_TLS_CAFILE, ...).
func (cfg *Config) ApplyEnvVars() error {
	jcfg := cfg.toJSONConfig()
	if err := envconfig.Process(envConfigKey, jcfg); err != nil {
		return fmt.Errorf("%w: environment: %w", ErrInvalidConfig, err)
	}
	return cfg.applyJSONConfig(jcfg)
}

// LoadJSON parses a "scyllastate" section. Fields absent from the JSON keep
// their default values; fields present replace them, even when zero.
func (cfg *Config) LoadJSON(raw []byte) error {
	base := &Config{}
	_ = base.Default()
	jcfg := base.toJSONConfig()
	// The values that do not parse are reported with the fields of a wrong
	// JSON type, all at once.
	check := func() error { return (&Config{}).applyJSONConfig(jcfg) }
	if err := cfgjson.Load(raw, jcfg, ConfigKey, ErrInvalidConfig, invalid, check); err != nil {
		return err
	}
	return cfg.applyJSONConfig(jcfg)
}

// ToJSON returns the JSON form of the configuration, password included:
// it is what gets written to service.json.
func (cfg *Config) ToJSON() ([]byte, error) {
	return config.DefaultJSONMarshal(cfg.toJSONConfig())
}

// ToDisplayJSON returns the JSON form with the password hidden.
func (cfg *Config) ToDisplayJSON() ([]byte, error) {
	return config.DisplayJSON(cfg.toJSONConfig())
}

func (cfg *Config) toJSONConfig() *jsonConfig {
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &TLSConfig{}
	}
	rp := cfg.RetryPolicy
	if rp == nil {
		rp = &RetryPolicyConfig{}
	}
	var dcs map[string]int
	if len(cfg.DCReplication) > 0 {
		dcs = make(map[string]int, len(cfg.DCReplication))
		for k, v := range cfg.DCReplication {
			dcs[k] = v
		}
	}
	return &jsonConfig{
		Hosts:                      append([]string(nil), cfg.Hosts...),
		Port:                       cfg.Port,
		Keyspace:                   cfg.Keyspace,
		Username:                   cfg.Username,
		Password:                   cfg.Password,
		Consistency:                cfg.Consistency,
		EventConsistency:           cfg.EventConsistency,
		SerialConsistency:          cfg.SerialConsistency,
		Timeout:                    cfg.Timeout.String(),
		ConnectTimeout:             cfg.ConnectTimeout.String(),
		NumConns:                   cfg.NumConns,
		TokenAwareRouting:          cfg.TokenAwareRouting,
		DCAwareRouting:             cfg.DCAwareRouting,
		LocalDC:                    cfg.LocalDC,
		PageSize:                   cfg.PageSize,
		PreparedStatementCacheSize: cfg.PreparedStatementCacheSize,
		TLS: &jsonTLS{
			Enabled:            tlsCfg.Enabled,
			CertFile:           tlsCfg.CertFile,
			KeyFile:            tlsCfg.KeyFile,
			CAFile:             tlsCfg.CAFile,
			InsecureSkipVerify: tlsCfg.InsecureSkipVerify,
		},
		RetryPolicy: &jsonRetryPolicy{
			NumRetries:    rp.NumRetries,
			MinRetryDelay: rp.MinRetryDelay.String(),
			MaxRetryDelay: rp.MaxRetryDelay.String(),
		},
		MetricsEnabled:      cfg.MetricsEnabled,
		SchemaMode:          cfg.SchemaMode,
		ReplicationStrategy: cfg.ReplicationStrategy,
		ReplicationFactor:   cfg.ReplicationFactor,
		DCReplication:       dcs,
		BatchSize:           cfg.BatchSize,
		WriteConcurrency:    cfg.WriteConcurrency,
		ListConcurrency:     cfg.ListConcurrency,
		EventRetention:      cfg.EventRetention.String(),
		EventPartitions:     cfg.EventPartitions,
	}
}

// applyJSONConfig replaces every field with its JSON value.
func (cfg *Config) applyJSONConfig(jcfg *jsonConfig) error {
	var timeout, connectTimeout, minDelay, maxDelay, retention time.Duration
	var numRetries int
	if jcfg.RetryPolicy != nil {
		numRetries = jcfg.RetryPolicy.NumRetries
	}
	durations := []*config.DurationOpt{
		{Duration: jcfg.Timeout, Dst: &timeout, Name: "timeout"},
		{Duration: jcfg.ConnectTimeout, Dst: &connectTimeout, Name: "connect_timeout"},
		{Duration: jcfg.EventRetention, Dst: &retention, Name: "event_retention"},
	}
	if jcfg.RetryPolicy != nil {
		durations = append(durations,
			&config.DurationOpt{Duration: jcfg.RetryPolicy.MinRetryDelay, Dst: &minDelay, Name: "retry_policy.min_retry_delay"},
			&config.DurationOpt{Duration: jcfg.RetryPolicy.MaxRetryDelay, Dst: &maxDelay, Name: "retry_policy.max_retry_delay"},
		)
	}
	var merr *multierror.Error
	for _, d := range durations { // each bad one, not only the first
		if err := config.ParseDurations(ConfigKey, d); err != nil {
			merr = multierror.Append(merr, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	if merr != nil {
		merr.ErrorFormat = cfgjson.ListErrors
		return merr
	}

	cfg.Hosts = append([]string(nil), jcfg.Hosts...)
	cfg.Port = jcfg.Port
	cfg.Keyspace = jcfg.Keyspace
	cfg.Username = jcfg.Username
	cfg.Password = jcfg.Password
	cfg.Consistency = jcfg.Consistency
	cfg.EventConsistency = jcfg.EventConsistency
	cfg.SerialConsistency = jcfg.SerialConsistency
	cfg.Timeout = timeout
	cfg.ConnectTimeout = connectTimeout
	cfg.NumConns = jcfg.NumConns
	cfg.TokenAwareRouting = jcfg.TokenAwareRouting
	cfg.DCAwareRouting = jcfg.DCAwareRouting
	cfg.LocalDC = jcfg.LocalDC
	cfg.PageSize = jcfg.PageSize
	cfg.PreparedStatementCacheSize = jcfg.PreparedStatementCacheSize
	cfg.TLS = &TLSConfig{}
	if t := jcfg.TLS; t != nil {
		cfg.TLS = &TLSConfig{
			Enabled:            t.Enabled,
			CertFile:           t.CertFile,
			KeyFile:            t.KeyFile,
			CAFile:             t.CAFile,
			InsecureSkipVerify: t.InsecureSkipVerify,
		}
	}
	cfg.RetryPolicy = &RetryPolicyConfig{
		NumRetries:    numRetries,
		MinRetryDelay: minDelay,
		MaxRetryDelay: maxDelay,
	}
	cfg.MetricsEnabled = jcfg.MetricsEnabled
	cfg.SchemaMode = jcfg.SchemaMode
	cfg.ReplicationStrategy = jcfg.ReplicationStrategy
	cfg.ReplicationFactor = jcfg.ReplicationFactor
	cfg.DCReplication = nil
	if len(jcfg.DCReplication) > 0 {
		cfg.DCReplication = make(map[string]int, len(jcfg.DCReplication))
		for k, v := range jcfg.DCReplication {
			cfg.DCReplication[k] = v
		}
	}
	cfg.BatchSize = jcfg.BatchSize
	cfg.WriteConcurrency = jcfg.WriteConcurrency
	cfg.ListConcurrency = jcfg.ListConcurrency
	cfg.EventRetention = retention
	cfg.EventPartitions = jcfg.EventPartitions
	return nil
}
