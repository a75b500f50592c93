package scyllastate

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cfgjson"
)

// identifierRe matches the unquoted CQL identifiers we accept for keyspace
// and table names. Cassandra limits names to 48 characters.
var identifierRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// dcNameRe matches data center names, which are spliced into the keyspace
// replication map as string literals.
var dcNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

// ValidateIdentifier checks that name is a safe, unquoted CQL identifier
// (a letter, then up to 47 letters, digits or underscores) that does not
// name one of Cassandra's or Scylla's system keyspaces. field names the
// setting in the error.
func ValidateIdentifier(field, name string) error {
	if !identifierRe.MatchString(name) {
		return invalid(field, "%q is not a valid CQL identifier: use a letter followed by up to 47 letters, digits or underscores", name)
	}
	// CQL folds unquoted names to lower case: "MyPins" would create
	// mypins, and every lookup by the name as written would miss it.
	if lower := strings.ToLower(name); lower != name {
		return invalid(field, "%q has upper-case letters, which CQL folds to lower case: write it %q", name, lower)
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "system") || lower == "dse" || strings.HasPrefix(lower, "dse_") {
		return invalid(field, "%q is reserved for the database's own keyspaces: choose another name", name)
	}
	return nil
}

// validateHost checks the i-th hosts entry: a host name or IP address,
// optionally with its own port (host:port, [IPv6]:port).
func validateHost(i int, h string) error {
	if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " \t\n,") {
		return invalid("hosts", "entry %d (%q) is not a host name, IP address or host:port", i, h)
	}
	if !strings.Contains(h, ":") || net.ParseIP(h) != nil {
		return nil // a name, an IPv4 or a bare IPv6 address: the port setting applies
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil || host == "" {
		return invalid("hosts", "entry %d (%q) is not a host name, IP address or host:port (write an IPv6 address with a port as [addr]:port)", i, h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return invalid("hosts", "entry %d (%q): port %q is not a number in 1-65535", i, h, port)
	}
	return nil
}

// Upper bounds that keep the write deadline (timeout times 1 +
// num_retries, plus the backoff) quick to compute and far from overflow.
const (
	maxRetries = 100
	maxDelay   = time.Hour
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s.%s: %s", ErrInvalidConfig, ConfigKey, field, fmt.Sprintf(format, args...))
}

// Validate checks every field and returns an error naming each bad one,
// with how to fix it: all of them at once (a go-multierror), so that a
// file with several mistakes is fixed in one go. Every error wraps
// ErrInvalidConfig.
func (cfg *Config) Validate() error {
	var merr *multierror.Error
	add := func(err error) {
		if err != nil {
			merr = multierror.Append(merr, err)
		}
	}
	if len(cfg.Hosts) == 0 {
		add(invalid("hosts", "no hosts given: list at least one contact point, e.g. [\"127.0.0.1\"]"))
	}
	for i, h := range cfg.Hosts {
		add(validateHost(i, h))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		add(invalid("port", "%d is out of range: use 1-65535 (CQL default 9042)", cfg.Port))
	}
	add(ValidateIdentifier("keyspace", cfg.Keyspace))
	if cfg.Username == "" && cfg.Password != "" {
		add(invalid("username", "a password is set but no username: set both or neither"))
	}
	if cfg.Username != "" && cfg.Password == "" {
		add(invalid("password", "username %q is set but the password is empty: set both or neither", cfg.Username))
	}
	_, err := levelOf("consistency", cfg.Consistency, false)
	add(err)
	if cfg.EventConsistency != "" {
		_, err := levelOf("event_consistency", cfg.EventConsistency, false)
		add(err)
	}
	_, err = levelOf("serial_consistency", cfg.SerialConsistency, true)
	add(err)
	if cfg.Timeout <= 0 || cfg.Timeout > maxDelay {
		add(invalid("timeout", "%s must be positive and at most %s, e.g. \"10s\"", cfg.Timeout, maxDelay))
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > maxDelay {
		add(invalid("connect_timeout", "%s must be positive and at most %s, e.g. \"10s\"", cfg.ConnectTimeout, maxDelay))
	}
	if cfg.NumConns < 1 {
		add(invalid("num_conns", "%d must be at least 1", cfg.NumConns))
	}
	if cfg.DCAwareRouting && cfg.LocalDC == "" {
		add(invalid("local_dc", "dc_aware_routing is on but local_dc is empty: name this peer's data center"))
	}
	if cfg.LocalDC != "" && !dcNameRe.MatchString(cfg.LocalDC) {
		add(invalid("local_dc", "%q is not a valid data center name", cfg.LocalDC))
	}
	if cfg.PageSize < 1 {
		add(invalid("page_size", "%d must be at least 1", cfg.PageSize))
	}
	if cfg.PreparedStatementCacheSize < 1 {
		add(invalid("prepared_statement_cache_size", "%d must be at least 1", cfg.PreparedStatementCacheSize))
	}
	add(cfg.validateTLS())
	add(cfg.validateRetryPolicy())
	add(cfg.validateSchema())
	if cfg.BatchSize < 1 {
		add(invalid("batch_size", "%d must be at least 1", cfg.BatchSize))
	}
	if cfg.WriteConcurrency < 1 {
		add(invalid("write_concurrency", "%d must be at least 1", cfg.WriteConcurrency))
	}
	if cfg.ListConcurrency < 1 {
		add(invalid("list_concurrency", "%d must be at least 1", cfg.ListConcurrency))
	}
	if cfg.EventRetention < eventBucket || cfg.EventRetention > maxTTL {
		add(invalid("event_retention", "%s must be between %s and %s (a CQL TTL); the default is %s",
			cfg.EventRetention, eventBucket, maxTTL, DefaultEventRetention))
	}
	if cfg.EventPartitions < 1 || cfg.EventPartitions > MaxEventPartitions {
		add(invalid("event_partitions", "%d is out of range: use 1 to %d (default %d)",
			cfg.EventPartitions, MaxEventPartitions, DefaultEventPartitions))
	}
	if merr == nil {
		return nil
	}
	merr.ErrorFormat = cfgjson.ListErrors
	return merr
}

func (cfg *Config) validateTLS() error {
	t := cfg.TLS
	if t == nil || !t.Enabled {
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return invalid("tls.cert_file", "cert_file and key_file go together: set both for client authentication, or neither")
	}
	return nil
}

func (cfg *Config) validateRetryPolicy() error {
	rp := cfg.RetryPolicy
	if rp == nil {
		return nil
	}
	var merr *multierror.Error
	if rp.NumRetries < 0 || rp.NumRetries > maxRetries {
		merr = multierror.Append(merr, invalid("retry_policy.num_retries", "%d must be between 0 and %d", rp.NumRetries, maxRetries))
	}
	if rp.MinRetryDelay <= 0 || rp.MinRetryDelay > maxDelay {
		merr = multierror.Append(merr, invalid("retry_policy.min_retry_delay", "%s must be positive and at most %s, e.g. \"100ms\"", rp.MinRetryDelay, maxDelay))
	}
	if rp.MaxRetryDelay < rp.MinRetryDelay || rp.MaxRetryDelay > maxDelay {
		merr = multierror.Append(merr, invalid("retry_policy.max_retry_delay", "%s must be between min_retry_delay (%s) and %s", rp.MaxRetryDelay, rp.MinRetryDelay, maxDelay))
	}
	return merr.ErrorOrNil()
}

func (cfg *Config) validateSchema() error {
	var merr *multierror.Error
	add := func(err error) { merr = multierror.Append(merr, err) }
	switch cfg.SchemaMode {
	case SchemaModeCreate, SchemaModeCheck:
	default:
		add(invalid("schema_mode", "%q is not a schema mode: use %q or %q", cfg.SchemaMode, SchemaModeCreate, SchemaModeCheck))
	}
	switch cfg.ReplicationStrategy {
	case SimpleStrategy:
		if cfg.ReplicationFactor < 1 {
			add(invalid("replication_factor", "%d must be at least 1", cfg.ReplicationFactor))
		}
	case NetworkTopologyStrategy:
		if len(cfg.DCReplication) == 0 {
			add(invalid("dc_replication", "NetworkTopologyStrategy needs a replication factor per data center, e.g. {\"dc1\": 3}"))
		}
		dcs := make([]string, 0, len(cfg.DCReplication))
		for dc := range cfg.DCReplication {
			dcs = append(dcs, dc)
		}
		sort.Strings(dcs)
		for _, dc := range dcs {
			if !dcNameRe.MatchString(dc) {
				add(invalid("dc_replication", "%q is not a valid data center name", dc))
			}
			if rf := cfg.DCReplication[dc]; rf < 1 {
				add(invalid("dc_replication", "data center %q: replication factor %d must be at least 1", dc, rf))
			}
		}
	default:
		add(invalid("replication_strategy", "%q is not supported: use %q or %q", cfg.ReplicationStrategy, SimpleStrategy, NetworkTopologyStrategy))
	}
	return merr.ErrorOrNil()
}

// levelOf parses the consistency setting field (e.g. "consistency") of
// value s: a serial level for serial_consistency, another otherwise. The
// error names the field and lists the valid values.
func levelOf(field, s string, serial bool) (Consistency, error) {
	c, err := ParseConsistency(s)
	if serial && (err != nil || !c.Serial()) {
		return 0, invalid(field, "%q is not a serial consistency level: use SERIAL or LOCAL_SERIAL", s)
	}
	if !serial && (err != nil || c.Serial()) {
		return 0, invalid(field, "%q is not a consistency level: use one of %s", s, strings.Join(levelNames(ConsistencyAny, ConsistencyLocalOne), ", "))
	}
	return c, nil
}
