package scyllahealth

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/kelseyhightower/envconfig"
)

// ConfigKey is the name of the section under "informer" in service.json.
const ConfigKey = "scyllahealth"

const envConfigKey = "cluster_scyllahealth"

// DefaultMetricTTL is how long a published metric stays valid. The peer
// publishes it again every half of it.
const DefaultMetricTTL = 30 * time.Second

// ErrInvalidConfig is wrapped by every validation error of the section.
var ErrInvalidConfig = errors.New("invalid informer.scyllahealth configuration")

// Config configures the informer. It implements upstream's
// config.ComponentConfig, as upstream's informers do.
type Config struct {
	config.Saver

	// MetricTTL is how long a published metric stays valid.
	MetricTTL time.Duration
}

type jsonConfig struct {
	MetricTTL string `json:"metric_ttl"`
}

// ConfigKey returns "scyllahealth".
func (cfg *Config) ConfigKey() string { return ConfigKey }

// Default sets the default values.
func (cfg *Config) Default() error {
	cfg.MetricTTL = DefaultMetricTTL
	return nil
}

// ApplyEnvVars applies CLUSTER_SCYLLAHEALTH_METRICTTL.
func (cfg *Config) ApplyEnvVars() error {
	jcfg := cfg.toJSONConfig()
	if err := envconfig.Process(envConfigKey, jcfg); err != nil {
		return fmt.Errorf("%w: environment: %w", ErrInvalidConfig, err)
	}
	return cfg.applyJSONConfig(jcfg)
}

// Validate checks the values.
func (cfg *Config) Validate() error {
	if cfg.MetricTTL <= 0 {
		return fmt.Errorf("%w: informer.%s.metric_ttl: %s must be positive, e.g. \"30s\"", ErrInvalidConfig, ConfigKey, cfg.MetricTTL)
	}
	return nil
}

// LoadJSON reads the section; absent fields keep their defaults.
func (cfg *Config) LoadJSON(raw []byte) error {
	_ = cfg.Default()
	jcfg := cfg.toJSONConfig()
	if err := json.Unmarshal(raw, jcfg); err != nil {
		return fmt.Errorf("%w: parsing the %s section: %w", ErrInvalidConfig, ConfigKey, err)
	}
	return cfg.applyJSONConfig(jcfg)
}

func (cfg *Config) applyJSONConfig(jcfg *jsonConfig) error {
	err := config.ParseDurations(ConfigKey, &config.DurationOpt{Duration: jcfg.MetricTTL, Dst: &cfg.MetricTTL, Name: "metric_ttl"})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return cfg.Validate()
}

// ToJSON returns the service.json form.
func (cfg *Config) ToJSON() ([]byte, error) {
	return config.DefaultJSONMarshal(cfg.toJSONConfig())
}

// ToDisplayJSON returns the JSON form for display (no secrets here).
func (cfg *Config) ToDisplayJSON() ([]byte, error) {
	return config.DisplayJSON(cfg.toJSONConfig())
}

func (cfg *Config) toJSONConfig() *jsonConfig {
	return &jsonConfig{MetricTTL: cfg.MetricTTL.String()}
}
