package scylla

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/kelseyhightower/envconfig"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cfgjson"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
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
	DefaultFeedOverlap        = time.Minute
	DefaultCheckpointInterval = 30 * time.Second
	DefaultCatchUpConcurrency = 16
	DefaultReadyTimeout       = 30 * time.Minute
	DefaultPinQueueLimit      = 10000
	DefaultRecoverSlices      = 100
	DefaultRepairInterval     = 15 * time.Minute
	DefaultRepairReadRate     = 1000
	// DefaultStateSyncInterval and DefaultPinRecoverInterval are
	// upstream's cluster defaults, used until the daemon sets the
	// configured ones.
	DefaultStateSyncInterval  = 5 * time.Minute
	DefaultPinRecoverInterval = 12 * time.Minute
)

// maxInterval bounds poll_interval, feed_overlap and checkpoint_interval:
// the feed computes multiples of them, which must not overflow.
const maxInterval = 7 * 24 * time.Hour

// minRepairTick is the shortest time between two slice repairs
// (repair_interval/recover_slices).
const minRepairTick = 10 * time.Millisecond

// clockSkewAllowance is added to the write deadline when checking
// feed_overlap: the clocks of peers must agree within it (NTP).
const clockSkewAllowance = 5 * time.Second

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
	// database is unreachable), the schema check, the catch-up and, for a
	// peer away longer than event_retention, the repair of the whole
	// pinset (which needs its IPFS daemon). The peer shuts down when it
	// is exceeded.
	ReadyTimeout time.Duration
	// PinQueueLimit is the number of pins waiting in the pin tracker
	// beyond which the feed and the repairs queue no more: further pins
	// wait, by CID only, in a deferred set and are tracked (newest
	// first, as their rows hold them then) as soon as the queue has
	// room; the paced pass of a first start waits. The deferred set
	// holds up to 4 times this many (at least 10,000); a burst beyond it
	// is left to a recover pass over the pinset. It bounds the peer's
	// memory when a large pinset arrives at once (a first start, a big
	// import). 0 disables the limit.
	PinQueueLimit int
	// RecoverSlices is the number of slices the shared pinset is cut
	// into for its repair: the peer checks one slice against its IPFS
	// daemon every RepairInterval/RecoverSlices, instead of the whole
	// pinset at once as upstream does.
	RecoverSlices int
	// RepairInterval is the time in which every slice of the pinset is
	// repaired once: a pin this peer should hold that IPFS lacks is
	// tracked, a CID unpinned within event_retention that IPFS still
	// holds is unpinned. A change the change feed missed is thus
	// corrected within RepairInterval; each repair reads
	// 1/RecoverSlices of the pinset table.
	RepairInterval time.Duration
	// RepairReadRate bounds the pins per second that the repairs of all
	// the cluster's peers read together: each peer reads at most
	// RepairReadRate divided by the number of trusted peers it knows
	// (itself included), so that the database's load does not grow with
	// the number of peers. When the pinset is too large for that rate, a
	// repair cycle takes longer than RepairInterval. 0: no limit (every
	// peer reads its whole pinset once per RepairInterval).
	RepairReadRate int

	// StateSyncInterval and PinRecoverInterval come from the cluster
	// section (state_sync_interval, pin_recover_interval): the daemon
	// sets them. They pace the expiry check and the recovery of the
	// tracker's operations in error.
	StateSyncInterval  time.Duration
	PinRecoverInterval time.Duration
}

type jsonConfig struct {
	ClusterName        string   `json:"cluster_name"`
	TrustedPeers       []string `json:"trusted_peers"`
	PollInterval       string   `json:"poll_interval"`
	FeedOverlap        string   `json:"feed_overlap"`
	CheckpointInterval string   `json:"checkpoint_interval"`
	CatchUpConcurrency int      `json:"catch_up_concurrency"`
	ReadyTimeout       string   `json:"ready_timeout"`
	PinQueueLimit      int      `json:"pin_queue_limit"`
	RecoverSlices      int      `json:"recover_slices"`
	RepairInterval     string   `json:"repair_interval"`
	RepairReadRate     int      `json:"repair_read_rate"`
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
	cfg.PinQueueLimit = DefaultPinQueueLimit
	cfg.RecoverSlices = DefaultRecoverSlices
	cfg.RepairInterval = DefaultRepairInterval
	cfg.RepairReadRate = DefaultRepairReadRate
	cfg.StateSyncInterval = DefaultStateSyncInterval
	cfg.PinRecoverInterval = DefaultPinRecoverInterval
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

// Validate checks every field and names each bad one, all at once.
func (cfg *Config) Validate() error {
	var merr *multierror.Error
	add := func(field, format string, args ...any) {
		merr = multierror.Append(merr, invalid(field, format, args...))
	}
	if cfg.ClusterName == "" {
		add("cluster_name", "must not be empty")
	}
	if cfg.PollInterval < 10*time.Millisecond || cfg.PollInterval > maxInterval {
		add("poll_interval", "%s is out of range: use 10ms to %s (default %s)", cfg.PollInterval, maxInterval, DefaultPollInterval)
	}
	if cfg.FeedOverlap < time.Second || cfg.FeedOverlap > maxInterval {
		add("feed_overlap", "%s is out of range: use 1s to %s (default %s)", cfg.FeedOverlap, maxInterval, DefaultFeedOverlap)
	}
	if cfg.CheckpointInterval <= 0 || cfg.CheckpointInterval > maxInterval {
		add("checkpoint_interval", "%s is out of range: use a positive duration up to %s (default %s)", cfg.CheckpointInterval, maxInterval, DefaultCheckpointInterval)
	}
	if cfg.CatchUpConcurrency < 1 {
		add("catch_up_concurrency", "%d must be at least 1", cfg.CatchUpConcurrency)
	}
	if cfg.ReadyTimeout <= 0 {
		add("ready_timeout", "%s must be positive (default %s)", cfg.ReadyTimeout, DefaultReadyTimeout)
	}
	if cfg.PinQueueLimit < 0 {
		add("pin_queue_limit", "%d must be 0 (no limit) or more (default %d)", cfg.PinQueueLimit, DefaultPinQueueLimit)
	}
	if cfg.RecoverSlices < 1 {
		add("recover_slices", "%d must be at least 1 (default %d)", cfg.RecoverSlices, DefaultRecoverSlices)
	}
	switch {
	case cfg.RepairInterval < time.Second || cfg.RepairInterval > maxInterval:
		add("repair_interval", "%s is out of range: use 1s to %s (default %s)", cfg.RepairInterval, maxInterval, DefaultRepairInterval)
	case cfg.RecoverSlices >= 1 && cfg.RepairInterval/time.Duration(cfg.RecoverSlices) < minRepairTick:
		add("repair_interval", "%s repairs one of the %d slices (recover_slices) every %s, more often than every %s: use a longer repair_interval or fewer recover_slices",
			cfg.RepairInterval, cfg.RecoverSlices, cfg.RepairInterval/time.Duration(cfg.RecoverSlices), minRepairTick)
	}
	if cfg.RepairReadRate < 0 {
		add("repair_read_rate", "%d must be 0 (no limit) or a number of pins per second for the whole cluster (default %d)", cfg.RepairReadRate, DefaultRepairReadRate)
	}
	if cfg.StateSyncInterval <= 0 || cfg.PinRecoverInterval <= 0 {
		add("state_sync_interval", "the cluster's state_sync_interval and pin_recover_interval must be positive")
	}
	if merr == nil {
		return nil
	}
	merr.ErrorFormat = cfgjson.ListErrors
	return merr
}

// checkAgainst checks the settings that depend on the store's: the feed
// must be re-read for longer than a write can take.
func (cfg *Config) checkAgainst(st *scyllastate.Config) error {
	need := st.WriteDeadline() + clockSkewAllowance
	if cfg.FeedOverlap < need {
		return invalid("feed_overlap", "%s is shorter than the longest write of state.scyllastate (timeout times 1 + retry_policy.num_retries, plus backoff: %s) and %s of clock skew: use %s or more, or lower those",
			cfg.FeedOverlap, st.WriteDeadline().Round(time.Second), clockSkewAllowance, need.Round(time.Second))
	}
	return nil
}

// LoadJSON parses the section; absent fields keep their defaults.
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
	if cfg.StateSyncInterval == 0 {
		cfg.StateSyncInterval = DefaultStateSyncInterval
	}
	if cfg.PinRecoverInterval == 0 {
		cfg.PinRecoverInterval = DefaultPinRecoverInterval
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
		PinQueueLimit:      cfg.PinQueueLimit,
		RecoverSlices:      cfg.RecoverSlices,
		RepairInterval:     cfg.RepairInterval.String(),
		RepairReadRate:     cfg.RepairReadRate,
	}
}

func (cfg *Config) applyJSONConfig(jcfg *jsonConfig) error {
	var poll, overlap, ckpt, ready, repair time.Duration
	var merr *multierror.Error
	for _, d := range []*config.DurationOpt{ // each bad one, not only the first
		{Duration: jcfg.PollInterval, Dst: &poll, Name: "poll_interval"},
		{Duration: jcfg.FeedOverlap, Dst: &overlap, Name: "feed_overlap"},
		{Duration: jcfg.CheckpointInterval, Dst: &ckpt, Name: "checkpoint_interval"},
		{Duration: jcfg.ReadyTimeout, Dst: &ready, Name: "ready_timeout"},
		{Duration: jcfg.RepairInterval, Dst: &repair, Name: "repair_interval"},
	} {
		if err := config.ParseDurations("consensus."+ConfigKey, d); err != nil {
			merr = multierror.Append(merr, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
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
			merr = multierror.Append(merr, invalid("trusted_peers", "%q is not a peer ID (use peer IDs or \"*\"): %s", s, err))
			continue
		}
		trusted = append(trusted, pid)
	}
	if merr != nil {
		merr.ErrorFormat = cfgjson.ListErrors
		return merr
	}
	cfg.ClusterName = jcfg.ClusterName
	cfg.TrustAll = trustAll
	cfg.TrustedPeers = trusted
	cfg.PollInterval = poll
	cfg.FeedOverlap = overlap
	cfg.CheckpointInterval = ckpt
	cfg.CatchUpConcurrency = jcfg.CatchUpConcurrency
	cfg.ReadyTimeout = ready
	cfg.PinQueueLimit = jcfg.PinQueueLimit
	cfg.RecoverSlices = jcfg.RecoverSlices
	cfg.RepairInterval = repair
	cfg.RepairReadRate = jcfg.RepairReadRate
	return nil
}

// ClockSkewAllowance is the clock skew between peers that feed_overlap
// must cover on top of the longest write.
const ClockSkewAllowance = clockSkewAllowance

// AliveWithin is how recent the feed position of a peer must be for the
// other peers to take it for alive, with the settings of cfg: a live peer
// saves its position, which trails now by feed_overlap, every
// checkpoint_interval. The live peer with the smallest ID completes the
// writes of writers that died.
func AliveWithin(cfg *Config) time.Duration {
	return cfg.FeedOverlap + 3*cfg.CheckpointInterval + time.Minute
}
