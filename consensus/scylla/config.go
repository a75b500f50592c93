package scylla

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/kelseyhightower/envconfig"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// ConfigKey is the name of this component's section under "consensus" in
// service.json.
const ConfigKey = "scylla"

// envConfigKey prefixes the environment overrides: CLUSTER_SCYLLA_<FIELD>.
const envConfigKey = "cluster_scylla"

// Default values.
const (
	DefaultClusterName        = "ipfs-cluster"
	DefaultPollInterval       = time.Second
	DefaultFeedOverlap        = 10 * time.Second
	DefaultCheckpointInterval = 30 * time.Second
	DefaultCatchUpConcurrency = 16
	DefaultReadyTimeout       = 30 * time.Minute
)

// ErrInvalidConfig is wrapped by every validation error of this section.
var ErrInvalidConfig = errors.New("invalid consensus.scylla configuration")

// Config configures the Scylla-backed consensus. The connection to the
// database is configured by the scyllastate section (state.scyllastate).
type Config struct {
	config.Saver

	// ClusterName names the pubsub topic on which peers hint each other
	// that the change feed has news. Peers of one cluster must agree.
	ClusterName string
	// TrustedPeers may send hints and call trusted RPC endpoints.
	TrustedPeers []peer.ID
	// TrustAll trusts every peer ("*" in trusted_peers).
	TrustAll bool
	// PollInterval is how often the change feed is read when no hint
	// arrives.
	PollInterval time.Duration
	// FeedOverlap is re-read on every poll, to catch events written late
	// or by a writer whose clock lags. It must exceed the clock skew
	// between peers plus the write timeout.
	FeedOverlap time.Duration
	// CheckpointInterval is how often the feed position is saved.
	CheckpointInterval time.Duration
	// CatchUpConcurrency bounds the pins re-read in parallel while a
	// returning peer catches up with the feed.
	CatchUpConcurrency int
	// ReadyTimeout bounds the start: connecting (retried while the
	// database is unreachable), the schema check and the catch-up. The
	// peer shuts down when it is exceeded.
	ReadyTimeout time.Duration
}

type jsonConfig struct {
	ClusterName        string   `json:"cluster_name"`
	TrustedPeers       []string `json:"trusted_peers"`
	PollInterval       string   `json:"poll_interval"`
	FeedOverlap        string   `json:"feed_overlap"`
	CheckpointInterval string   `json:"checkpoint_interval"`
	CatchUpConcurrency int      `json:"catch_up_concurrency"`
	ReadyTimeout       string   `json:"ready_timeout"`
}

// ConfigKey returns "scylla".
func (cfg *Config) ConfigKey() string { return ConfigKey }

// Default sets every field to its default: all peers trusted.
func (cfg *Config) Default() error {
	cfg.ClusterName = DefaultClusterName
	cfg.TrustedPeers = nil
	cfg.TrustAll = true
	cfg.PollInterval = DefaultPollInterval
	cfg.FeedOverlap = DefaultFeedOverlap
	cfg.CheckpointInterval = DefaultCheckpointInterval
	cfg.CatchUpConcurrency = DefaultCatchUpConcurrency
	cfg.ReadyTimeout = DefaultReadyTimeout
	return nil
}

// ApplyEnvVars overrides fields from CLUSTER_SCYLLA_* variables, named
// after the Go fields (CLUSTER_SCYLLA_TRUSTEDPEERS, CLUSTER_SCYLLA_POLLINTERVAL).
func (cfg *Config) ApplyEnvVars() error {
	jcfg := cfg.toJSONConfig()
	if err := envconfig.Process(envConfigKey, jcfg); err != nil {
		return fmt.Errorf("%w: environment: %w", ErrInvalidConfig, err)
	}
	return cfg.applyJSONConfig(jcfg)
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: consensus.scylla.%s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// Validate checks every field and names the first bad one.
func (cfg *Config) Validate() error {
	switch {
	case cfg.ClusterName == "":
		return invalid("cluster_name", "must not be empty")
	case cfg.PollInterval < 10*time.Millisecond:
		return invalid("poll_interval", "%s is too short: use 10ms or more (default %s)", cfg.PollInterval, DefaultPollInterval)
	case cfg.FeedOverlap < 0:
		return invalid("feed_overlap", "%s must not be negative (default %s)", cfg.FeedOverlap, DefaultFeedOverlap)
	case cfg.CheckpointInterval <= 0:
		return invalid("checkpoint_interval", "%s must be positive (default %s)", cfg.CheckpointInterval, DefaultCheckpointInterval)
	case cfg.CatchUpConcurrency < 1:
		return invalid("catch_up_concurrency", "%d must be at least 1", cfg.CatchUpConcurrency)
	case cfg.ReadyTimeout <= 0:
		return invalid("ready_timeout", "%s must be positive (default %s)", cfg.ReadyTimeout, DefaultReadyTimeout)
	}
	return nil
}

// LoadJSON parses the section; absent fields keep their defaults.
func (cfg *Config) LoadJSON(raw []byte) error {
	base := &Config{}
	_ = base.Default()
	jcfg := base.toJSONConfig()
	if err := json.Unmarshal(raw, jcfg); err != nil {
		return fmt.Errorf("%w: parsing the %s section: %w", ErrInvalidConfig, ConfigKey, err)
	}
	return cfg.applyJSONConfig(jcfg)
}

// ToJSON returns the service.json form.
func (cfg *Config) ToJSON() ([]byte, error) {
	return config.DefaultJSONMarshal(cfg.toJSONConfig())
}

// ToDisplayJSON returns the JSON form for display; it holds no secret.
func (cfg *Config) ToDisplayJSON() ([]byte, error) {
	return config.DisplayJSON(cfg.toJSONConfig())
}

func (cfg *Config) toJSONConfig() *jsonConfig {
	trusted := []string{}
	if cfg.TrustAll {
		trusted = append(trusted, "*")
	}
	for _, p := range cfg.TrustedPeers {
		trusted = append(trusted, p.String())
	}
	return &jsonConfig{
		ClusterName:        cfg.ClusterName,
		TrustedPeers:       trusted,
		PollInterval:       cfg.PollInterval.String(),
		FeedOverlap:        cfg.FeedOverlap.String(),
		CheckpointInterval: cfg.CheckpointInterval.String(),
		CatchUpConcurrency: cfg.CatchUpConcurrency,
		ReadyTimeout:       cfg.ReadyTimeout.String(),
	}
}

func (cfg *Config) applyJSONConfig(jcfg *jsonConfig) error {
	var poll, overlap, ckpt, ready time.Duration
	err := config.ParseDurations(ConfigKey,
		&config.DurationOpt{Duration: jcfg.PollInterval, Dst: &poll, Name: "poll_interval"},
		&config.DurationOpt{Duration: jcfg.FeedOverlap, Dst: &overlap, Name: "feed_overlap"},
		&config.DurationOpt{Duration: jcfg.CheckpointInterval, Dst: &ckpt, Name: "checkpoint_interval"},
		&config.DurationOpt{Duration: jcfg.ReadyTimeout, Dst: &ready, Name: "ready_timeout"},
	)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	trustAll := false
	var trusted []peer.ID
	for _, s := range jcfg.TrustedPeers {
		if s == "*" {
			trustAll = true
			continue
		}
		pid, err := peer.Decode(s)
		if err != nil {
			return invalid("trusted_peers", "%q is not a peer ID (use peer IDs or \"*\"): %s", s, err)
		}
		trusted = append(trusted, pid)
	}
	cfg.ClusterName = jcfg.ClusterName
	cfg.TrustAll = trustAll
	cfg.TrustedPeers = trusted
	cfg.PollInterval = poll
	cfg.FeedOverlap = overlap
	cfg.CheckpointInterval = ckpt
	cfg.CatchUpConcurrency = jcfg.CatchUpConcurrency
	cfg.ReadyTimeout = ready
	return nil
}
