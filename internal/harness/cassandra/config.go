// Package cassandra runs real Apache Cassandra 5.0 instances (the server
// jar and its runtime dependencies from Maven Central, on OpenJDK 17) for
// the integration, fault and benchmark runs: one node per loopback IP,
// data centers and racks, password authentication, mutual TLS with
// generated PEM files; start, wait (CQL served, gossip UP, login), stop,
// and the node faults (kill, stop, start, pause, resume, per node or data
// center).
//
// An instance lives in $CASSANDRA_RUN_DIR/$CASSANDRA_NAME with the layout
// the shell script before it used (instance.conf, nodeN/{pid,pid.start,
// conf,logs,storage}, tls/), so that an instance started by either is
// seen by the other. scripts/cassandra.sh is the command line of this
// package (scripts/harness).
package cassandra

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/settings"
)

// ErrConfig marks a setting that cannot work; the message names the
// variable and the value.
var ErrConfig = errors.New("bad setting")

// Config is what an instance is made of. Load reads it from the
// environment (the CASSANDRA_* variables) and the recorded settings.
type Config struct {
	Name         string   // CASSANDRA_NAME [main]
	RunDir       string   // CASSANDRA_RUN_DIR [/tmp/ipfs-cluster-scylla-cassandra]
	CacheDir     string   // CASSANDRA_CACHE_DIR
	Version      string   // CASSANDRA_VERSION [5.0.8]
	Java         string   // CASSANDRA_JAVA
	Hosts        []string // CASSANDRA_HOSTS [127.0.0.1], one node per IP
	DCs          []string // CASSANDRA_DCS: DC or DC:RACK per host; empty: SimpleSnitch
	Port         int      // CASSANDRA_PORT [9042]
	StoragePort  int      // CASSANDRA_STORAGE_PORT [7000]
	Auth         bool     // CASSANDRA_AUTH
	TLS          bool     // CASSANDRA_TLS
	Heap         string   // CASSANDRA_HEAP [512M]
	KeepData     bool     // CASSANDRA_KEEP_DATA
	StartTimeout time.Duration
	StopTimeout  time.Duration
	EnvPrefix    string   // CASSANDRA_ENV_PREFIX [SCYLLASTATE_TEST]
	LogLines     string   // CASSANDRA_LOG_LINES [50]
	JVMOpts      []string // CASSANDRA_JVM_OPTS
}

// Mode tells Load whether the settings are for a `start`: a start ignores
// the recorded settings unless CASSANDRA_KEEP_DATA=1.
type Mode int

// Modes of Load.
const (
	ForStart Mode = iota
	ForOther
)

// EnvWith is a getenv that answers from vars first, then from the
// process's environment (for Go callers that set a few variables).
func EnvWith(vars map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
}

func tagged(sentinel error, format string, args ...any) error {
	return settings.Errorf(sentinel, format, args...)
}

func bad(format string, args ...any) error { return tagged(ErrConfig, format, args...) }

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	ipRE   = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){3}$`)
	heapRE = regexp.MustCompile(`^[0-9]+[mMgG]$`)
	dcRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?$`)
	varRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Load reads the settings: a variable set in getenv wins, else (unless
// mode is ForStart without CASSANDRA_KEEP_DATA=1) the value recorded by
// the instance's last start, else the default.
func Load(getenv func(string) string, mode Mode) (*Instance, error) {
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Name:      or("CASSANDRA_NAME", "main"),
		RunDir:    or("CASSANDRA_RUN_DIR", "/tmp/ipfs-cluster-scylla-cassandra"),
		Version:   or("CASSANDRA_VERSION", "5.0.8"),
		Java:      or("CASSANDRA_JAVA", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"),
		EnvPrefix: or("CASSANDRA_ENV_PREFIX", "SCYLLASTATE_TEST"),
		LogLines:  or("CASSANDRA_LOG_LINES", "50"),
		JVMOpts:   strings.Fields(getenv("CASSANDRA_JVM_OPTS")),
	}
	cache := or("XDG_CACHE_HOME", filepath.Join(os.Getenv("HOME"), ".cache"))
	c.CacheDir = or("CASSANDRA_CACHE_DIR", filepath.Join(cache, "ipfs-cluster-scylla", "cassandra-"+c.Version))
	if !nameRE.MatchString(c.Name) {
		return nil, bad("CASSANDRA_NAME must match [A-Za-z0-9][A-Za-z0-9._-]* (got '%s')", c.Name)
	}
	var err error
	if c.StartTimeout, err = seconds("CASSANDRA_START_TIMEOUT", or("CASSANDRA_START_TIMEOUT", "180")); err != nil {
		return nil, err
	}
	if c.StopTimeout, err = seconds("CASSANDRA_STOP_TIMEOUT", or("CASSANDRA_STOP_TIMEOUT", "60")); err != nil {
		return nil, err
	}
	keep := or("CASSANDRA_KEEP_DATA", "0")
	c.KeepData = keep == "1"
	dir := filepath.Join(c.RunDir, c.Name)
	rec := map[string]string{}
	if mode != ForStart || c.KeepData {
		rec = readRecorded(filepath.Join(dir, "instance.conf"))
	}
	setting := func(env, key, def string) string {
		if v := getenv(env); v != "" {
			return v
		}
		if v, ok := rec[key]; ok && v != "" {
			return v
		}
		return def
	}
	hosts := strings.ReplaceAll(setting("CASSANDRA_HOSTS", "HOSTS", "127.0.0.1"), " ", "")
	dcs := strings.ReplaceAll(setting("CASSANDRA_DCS", "DCS", ""), " ", "")
	for _, h := range splitList(hosts) {
		if !ipRE.MatchString(h) {
			return nil, bad("CASSANDRA_HOSTS: '%s' is not an IPv4 address", h)
		}
		c.Hosts = append(c.Hosts, h)
	}
	if len(c.Hosts) == 0 {
		return nil, bad("CASSANDRA_HOSTS is empty")
	}
	if c.Port, err = port("CASSANDRA_PORT", setting("CASSANDRA_PORT", "PORT", "9042")); err != nil {
		return nil, err
	}
	if c.StoragePort, err = port("CASSANDRA_STORAGE_PORT", setting("CASSANDRA_STORAGE_PORT", "STORAGE_PORT", "7000")); err != nil {
		return nil, err
	}
	if c.Auth, err = boolean("CASSANDRA_AUTH", setting("CASSANDRA_AUTH", "AUTH", "0")); err != nil {
		return nil, err
	}
	if c.TLS, err = boolean("CASSANDRA_TLS", setting("CASSANDRA_TLS", "TLS", "0")); err != nil {
		return nil, err
	}
	c.Heap = setting("CASSANDRA_HEAP", "HEAP", "512M")
	if dcs != "" {
		c.DCs = splitList(dcs)
	}
	inst, err := New(c)
	if err != nil {
		return nil, err
	}
	inst.recorded = rec
	return inst, nil
}

// splitList splits a comma-separated list as bash's read -a does (a
// trailing comma adds no entry).
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, ","), ",")
}

func seconds(name, v string) (time.Duration, error) { return settings.Seconds(ErrConfig, name, v) }

func port(name, v string) (int, error) { return settings.Port(ErrConfig, name, v) }

func boolean(name, v string) (bool, error) {
	switch v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, bad("%s must be 0 or 1 (got '%s')", name, v)
}

// readRecorded reads KEY=VALUE lines (instance.conf; missing: none).
func readRecorded(path string) map[string]string { return settings.ReadRecorded(path) }

// record writes the settings a later command reads back.
func (in *Instance) record() error {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	lines := []string{
		"HOSTS=" + strings.Join(in.Hosts, ","),
		"PORT=" + strconv.Itoa(in.Port),
		"STORAGE_PORT=" + strconv.Itoa(in.StoragePort),
		"AUTH=" + b(in.Auth),
		"TLS=" + b(in.TLS),
		"HEAP=" + in.Heap,
		"VERSION=" + in.Version,
		"DCS=" + strings.Join(in.DCs, ","),
	}
	return settings.WriteRecorded(filepath.Join(in.Dir, "instance.conf"), lines)
}
