package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/allocator/balanced"
	"github.com/ipfs-cluster/ipfs-cluster/api/ipfsproxy"
	"github.com/ipfs-cluster/ipfs-cluster/api/pinsvcapi"
	"github.com/ipfs-cluster/ipfs-cluster/api/rest"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/ipfs-cluster/ipfs-cluster/consensus/crdt"
	"github.com/ipfs-cluster/ipfs-cluster/consensus/raft"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/badger"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/badger3"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/leveldb"
	"github.com/ipfs-cluster/ipfs-cluster/datastore/pebble"
	"github.com/ipfs-cluster/ipfs-cluster/informer/disk"
	"github.com/ipfs-cluster/ipfs-cluster/informer/numpin"
	"github.com/ipfs-cluster/ipfs-cluster/informer/pinqueue"
	"github.com/ipfs-cluster/ipfs-cluster/informer/tags"
	"github.com/ipfs-cluster/ipfs-cluster/ipfsconn/ipfshttp"
	"github.com/ipfs-cluster/ipfs-cluster/monitor/pubsubmon"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/pintracker/stateless"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// Consensus and datastore names accepted by init.
const (
	Crdt   = "crdt"
	Raft   = "raft"
	Scylla = "scylla"

	DefaultConsensus = Crdt
	DefaultDatastore = "pebble"
)

// Datastores are the --datastore values: upstream's four, which hold a
// crdt peer's replica, and "scylla", the shared pinset.
var Datastores = []string{"pebble", "badger3", "badger", "leveldb", Scylla}

var (
	// ErrNoScyllaSupport is returned when Scylla is asked of a binary
	// built without the "scylla" build tag.
	ErrNoScyllaSupport = errors.New(`this ipfs-cluster-service was built without the "scylla" build tag: ` +
		"rebuild it with `go build -tags scylla ./cmd/ipfs-cluster-service` (or `make build`)")
	// ErrBadCombination is returned for a consensus and datastore that do
	// not go together, or unknown names.
	ErrBadCombination = errors.New("invalid consensus/datastore choice")
)

// Configs holds every component configuration. The upstream ones are all
// non-nil; the Scylla ones exist in builds with the "scylla" tag.
type Configs struct {
	*cmdutils.Configs
	scyllaConfigs
}

// Helper loads, creates and saves service.json and identity.json.
type Helper struct {
	identity *uconfig.Identity
	manager  *uconfig.Manager
	configs  *Configs

	configPath   string
	identityPath string
	consensus    string
	datastore    string

	// loading defers the validation of every section until all are
	// loaded (see deferredConfig); components lists them to validate.
	loading    atomic.Bool
	components []registered
}

// NewHelper returns a helper for `init`: it registers the components of
// the given consensus and datastore ("" means the defaults; --datastore
// scylla implies the scylla consensus) and checks that they go together.
func NewHelper(configPath, identityPath, consensus, datastore string) (*Helper, error) {
	consensus, datastore, err := Resolve(consensus, datastore)
	if err != nil {
		return nil, err
	}
	h := newHelper(configPath, identityPath, consensus, datastore)
	return h, nil
}

// Resolve checks a --consensus/--datastore pair and fills the defaults.
func Resolve(consensus, datastore string) (string, string, error) {
	if datastore == Scylla && consensus == "" {
		consensus = Scylla
	}
	if consensus == "" {
		consensus = DefaultConsensus
	}
	switch consensus {
	case Crdt, Raft:
		if datastore == Scylla {
			return "", "", fmt.Errorf("%w: --consensus %s with --datastore scylla: the shared Scylla pinset has its own consensus; "+
				"drop --consensus (or use --consensus scylla)", ErrBadCombination, consensus)
		}
		if datastore == "" {
			datastore = DefaultDatastore
		}
		if !knownDatastore(datastore) {
			return "", "", fmt.Errorf("%w: --datastore %q: use one of %s", ErrBadCombination, datastore, strings.Join(Datastores, ", "))
		}
		if consensus == Raft {
			datastore = "" // raft keeps its own store
		}
	case Scylla:
		if datastore != "" && datastore != Scylla {
			return "", "", fmt.Errorf("%w: --consensus scylla with --datastore %s: the scylla consensus keeps the pinset in Scylla; "+
				"use --datastore scylla", ErrBadCombination, datastore)
		}
		datastore = Scylla
		if !scyllaSupported {
			return "", "", ErrNoScyllaSupport
		}
	default:
		return "", "", fmt.Errorf("%w: --consensus %q: use crdt, raft or scylla (scylla goes with --datastore scylla)", ErrBadCombination, consensus)
	}
	return consensus, datastore, nil
}

func knownDatastore(ds string) bool {
	for _, d := range Datastores[:4] {
		if d == ds {
			return true
		}
	}
	return false
}

// NewLoadedHelper loads service.json (with environment overrides) and
// identity.json, finds the consensus the configuration selects and
// validates every section.
func NewLoadedHelper(configPath, identityPath string) (*Helper, error) {
	if err := checkScyllaSections(configPath); err != nil {
		return nil, err
	}
	h := newHelper(configPath, identityPath, "", "")
	h.loading.Store(true)
	err := h.manager.LoadJSONFileAndEnv(configPath)
	h.loading.Store(false)
	if err != nil {
		if all := h.diagnose(); all != nil {
			return nil, all
		}
		return nil, fmt.Errorf("loading %s: %w", configPath, err)
	}
	// Every section, file and environment overrides applied, at once.
	if err := h.validateAll(); err != nil {
		return nil, err
	}
	if err := h.detect(); err != nil {
		return nil, err
	}
	if err := h.LoadIdentityFromDisk(); err != nil {
		return nil, err
	}
	return h, nil
}

func newHelper(configPath, identityPath, consensus, datastore string) *Helper {
	h := &Helper{
		configPath:   configPath,
		identityPath: identityPath,
		consensus:    consensus,
		datastore:    datastore,
		identity:     &uconfig.Identity{},
		manager:      uconfig.NewManager(),
		configs: &Configs{
			Configs: &cmdutils.Configs{
				Cluster:          &ipfscluster.Config{},
				Restapi:          rest.NewConfig(),
				Pinsvcapi:        pinsvcapi.NewConfig(),
				Ipfsproxy:        &ipfsproxy.Config{},
				Ipfshttp:         &ipfshttp.Config{},
				Raft:             &raft.Config{},
				Crdt:             &crdt.Config{},
				Statelesstracker: &stateless.Config{},
				Pubsubmon:        &pubsubmon.Config{},
				BalancedAlloc:    &balanced.Config{},
				DiskInf:          &disk.Config{},
				NumpinInf:        &numpin.Config{},
				TagsInf:          &tags.Config{},
				PinQueueInf:      &pinqueue.Config{},
				Metrics:          &observations.MetricsConfig{},
				Tracing:          &observations.TracingConfig{},
				Badger:           &badger.Config{},
				Badger3:          &badger3.Config{},
				LevelDB:          &leveldb.Config{},
				Pebble:           &pebble.Config{},
			},
			scyllaConfigs: newScyllaConfigs(),
		},
	}
	h.register()
	return h
}

// register registers the components of the chosen consensus and
// datastore, or all of them when loading (consensus "").
func (h *Helper) register() {
	c := h.configs
	reg := h.registerComponent
	reg(uconfig.Cluster, c.Cluster)
	reg(uconfig.API, c.Restapi)
	reg(uconfig.API, c.Pinsvcapi)
	reg(uconfig.API, c.Ipfsproxy)
	reg(uconfig.IPFSConn, c.Ipfshttp)
	reg(uconfig.PinTracker, c.Statelesstracker)
	reg(uconfig.Monitor, c.Pubsubmon)
	reg(uconfig.Allocator, c.BalancedAlloc)
	reg(uconfig.Informer, c.DiskInf)
	reg(uconfig.Informer, c.TagsInf)
	reg(uconfig.Informer, c.PinQueueInf)
	reg(uconfig.Observations, c.Metrics)
	reg(uconfig.Observations, c.Tracing)

	datastores := map[string]uconfig.ComponentConfig{
		"pebble": c.Pebble, "badger3": c.Badger3, "badger": c.Badger, "leveldb": c.LevelDB,
	}
	switch h.consensus {
	case Raft:
		reg(uconfig.Consensus, c.Raft)
	case Crdt:
		reg(uconfig.Consensus, c.Crdt)
		reg(uconfig.Datastore, datastores[h.datastore])
	case Scylla:
		c.registerScylla(reg)
	default: // loading: whatever service.json holds
		reg(uconfig.Consensus, c.Raft)
		reg(uconfig.Consensus, c.Crdt)
		for _, name := range Datastores[:4] {
			reg(uconfig.Datastore, datastores[name])
		}
		c.registerScylla(reg)
	}
}

// detect finds the consensus and datastore of a loaded configuration.
func (h *Helper) detect() error {
	consensuses := []string{Crdt, Raft}
	if scyllaSupported {
		consensuses = append(consensuses, Scylla)
	}
	found := h.loaded(uconfig.Consensus, consensuses)
	if len(found) != 1 {
		return fmt.Errorf("%s: the consensus section must hold exactly one of crdt, raft or scylla; it holds %d (%s)",
			h.configPath, len(found), strings.Join(found, ", "))
	}
	h.consensus = found[0]
	switch h.consensus {
	case Scylla:
		h.datastore = Scylla
	case Crdt:
		stores := h.loaded(uconfig.Datastore, Datastores[:4])
		if len(stores) != 1 {
			return fmt.Errorf("%s: a crdt peer needs exactly one datastore section (pebble, badger3, badger or leveldb); it holds %d (%s)",
				h.configPath, len(stores), strings.Join(stores, ", "))
		}
		h.datastore = stores[0]
	}
	return nil
}

// loaded returns the names of a section that service.json defines.
func (h *Helper) loaded(section uconfig.SectionType, names []string) []string {
	var found []string
	for _, name := range names {
		if h.manager.IsLoadedFromJSON(section, name) {
			found = append(found, name)
		}
	}
	return found
}

// Consensus returns the consensus name: crdt, raft or scylla.
func (h *Helper) Consensus() string { return h.consensus }

// Datastore returns the datastore name (pebble, ..., scylla), or "" with
// raft.
func (h *Helper) Datastore() string { return h.datastore }

// Manager returns the configuration manager.
func (h *Helper) Manager() *uconfig.Manager { return h.manager }

// Configs returns every component configuration.
func (h *Helper) Configs() *Configs { return h.configs }

// Identity returns the peer identity.
func (h *Helper) Identity() *uconfig.Identity { return h.identity }

// ConfigPath returns the service.json path.
func (h *Helper) ConfigPath() string { return h.configPath }

// LoadIdentityFromDisk loads identity.json and applies CLUSTER_ID and
// CLUSTER_PRIVATEKEY.
func (h *Helper) LoadIdentityFromDisk() error {
	ident := &uconfig.Identity{}
	if err := ident.LoadJSONFromFile(h.identityPath); err != nil {
		return fmt.Errorf("loading identity from %s: %w", h.identityPath, err)
	}
	if err := ident.ApplyEnvVars(); err != nil {
		return fmt.Errorf("applying environment variables to the identity: %w", err)
	}
	h.identity = ident
	return nil
}

// SaveConfigToDisk writes service.json (mode 0600: it may hold secrets).
func (h *Helper) SaveConfigToDisk() error {
	if err := os.MkdirAll(filepath.Dir(h.configPath), 0o700); err != nil {
		return err
	}
	return h.manager.SaveJSON(h.configPath)
}

// SaveIdentityToDisk writes identity.json.
func (h *Helper) SaveIdentityToDisk() error {
	if err := os.MkdirAll(filepath.Dir(h.identityPath), 0o700); err != nil {
		return err
	}
	return h.identity.SaveJSON(h.identityPath)
}

// SetupTracing turns tracing on in every component when forced or
// configured. Call it once the identity is loaded.
func (h *Helper) SetupTracing(force bool) {
	c := h.configs
	enabled := force || c.Tracing.EnableTracing
	c.Tracing.ClusterID = h.identity.ID.String()
	c.Tracing.ClusterPeername = c.Cluster.Peername
	c.Tracing.EnableTracing = enabled
	c.Cluster.Tracing = enabled
	c.Raft.Tracing = enabled
	c.Crdt.Tracing = enabled
	c.Restapi.Tracing = enabled
	c.Pinsvcapi.Tracing = enabled
	c.Ipfshttp.Tracing = enabled
	c.Ipfsproxy.Tracing = enabled
}

// SetInitPeers applies `init --peers`: with crdt and scylla only these
// peers are trusted, with raft they form the initial peerset.
func (h *Helper) SetInitPeers(pids []peer.ID) {
	c := h.configs
	c.Crdt.TrustAll = false
	c.Crdt.TrustedPeers = pids
	c.Raft.InitPeerset = pids
	c.setScyllaTrust(pids, true)
}

// AddTrustedPeers trusts more peers (the daemon's --bootstrap peers
// unless --no-trust), with crdt and scylla.
func (h *Helper) AddTrustedPeers(pids []peer.ID) {
	c := h.configs
	c.Crdt.TrustedPeers = append(c.Crdt.TrustedPeers, pids...)
	c.setScyllaTrust(pids, false)
}
