package kubo

import (
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/settings"
)

// ErrConfig marks a setting that cannot work; the message names the
// variable and the value.
var ErrConfig = errors.New("bad setting")

// Config is what a named instance is made of. Load reads it from the
// KUBO_* variables and the settings recorded by the instance's last start.
type Config struct {
	Name         string // KUBO_NAME [kubo0]
	ParentDir    string // KUBO_DIR [/tmp/ipfs-cluster-scylla-kubo]
	ToolsDir     string // the tools/kubo module that `build` builds
	BinDir       string // KUBO_BIN_DIR [<repo>/bin]
	Bin          string // KUBO_BIN [BinDir/ipfs]
	BinGiven     bool   // KUBO_BIN was set: never build it
	APIPort      int    // KUBO_API_PORT [5001]
	SwarmPort    int    // KUBO_SWARM_PORT [4001]
	GatewayPort  int    // KUBO_GATEWAY_PORT; 0 is "off" [off]
	ForceBuild   bool   // KUBO_FORCE_BUILD=1
	KeepData     bool   // KUBO_KEEP_DATA=1
	StartTimeout time.Duration
	StopTimeout  time.Duration
	Go           string // GO [go]
	LogLines     string // KUBO_LOG_LINES [50]
}

// Mode tells Load which settings a command needs.
type Mode int

// Modes of Load.
const (
	// ForStart: the ports from the environment or the defaults.
	ForStart Mode = iota
	// ForOther: the ports from the environment, else from instance.conf.
	ForOther
	// NoPorts: commands that do not use the ports (build, stop, logs,
	// clean); they are neither read nor checked.
	NoPorts
)

func tagged(sentinel error, format string, args ...any) error {
	return settings.Errorf(sentinel, format, args...)
}

func bad(format string, args ...any) error { return tagged(ErrConfig, format, args...) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Load reads the settings of the instance named by KUBO_NAME; root is the
// repository (for tools/kubo and the default bin/).
func Load(getenv func(string) string, root string, mode Mode) (*Instance, error) {
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Name:      or("KUBO_NAME", "kubo0"),
		ParentDir: or("KUBO_DIR", "/tmp/ipfs-cluster-scylla-kubo"),
		ToolsDir:  filepath.Join(root, "tools", "kubo"),
		BinDir:    or("KUBO_BIN_DIR", filepath.Join(root, "bin")),
		Go:        or("GO", "go"),
		LogLines:  or("KUBO_LOG_LINES", "50"),
	}
	c.Bin = or("KUBO_BIN", filepath.Join(c.BinDir, "ipfs"))
	c.BinGiven = getenv("KUBO_BIN") != ""
	c.ForceBuild = getenv("KUBO_FORCE_BUILD") == "1"
	c.KeepData = or("KUBO_KEEP_DATA", "0") == "1"
	if !nameRE.MatchString(c.Name) {
		return nil, bad("KUBO_NAME must match [A-Za-z0-9][A-Za-z0-9._-]* (got '%s')", c.Name)
	}
	if !filepath.IsAbs(c.ParentDir) {
		return nil, bad("KUBO_DIR must be an absolute path")
	}
	if strings.TrimRight(c.ParentDir, "/") == "" {
		return nil, bad("KUBO_DIR must not be /")
	}
	var err error
	if c.StartTimeout, err = seconds("KUBO_START_TIMEOUT", or("KUBO_START_TIMEOUT", "60")); err != nil {
		return nil, err
	}
	if c.StopTimeout, err = seconds("KUBO_STOP_TIMEOUT", or("KUBO_STOP_TIMEOUT", "30")); err != nil {
		return nil, err
	}
	in := newInstance(c)
	if mode == NoPorts {
		return in, nil
	}
	rec := map[string]string{}
	if mode == ForOther {
		rec = readRecorded(filepath.Join(in.Dir, "instance.conf"))
	}
	setting := func(env, key, def string) string {
		if v := getenv(env); v != "" {
			return v
		}
		if v := rec[key]; v != "" {
			return v
		}
		return def
	}
	if in.APIPort, err = port("KUBO_API_PORT", setting("KUBO_API_PORT", "API_PORT", "5001")); err != nil {
		return nil, err
	}
	if in.SwarmPort, err = port("KUBO_SWARM_PORT", setting("KUBO_SWARM_PORT", "SWARM_PORT", "4001")); err != nil {
		return nil, err
	}
	if gw := setting("KUBO_GATEWAY_PORT", "GATEWAY_PORT", "off"); gw != "off" {
		if in.GatewayPort, err = port("KUBO_GATEWAY_PORT", gw); err != nil {
			return nil, err
		}
	}
	if in.APIPort == in.SwarmPort || in.APIPort == in.GatewayPort || in.SwarmPort == in.GatewayPort {
		return nil, bad("KUBO_API_PORT, KUBO_SWARM_PORT and KUBO_GATEWAY_PORT must differ")
	}
	return in, nil
}

func seconds(name, v string) (time.Duration, error) { return settings.Seconds(ErrConfig, name, v) }

func port(name, v string) (int, error) { return settings.Port(ErrConfig, name, v) }

// readRecorded reads KEY=VALUE lines (instance.conf; missing: none).
func readRecorded(path string) map[string]string { return settings.ReadRecorded(path) }

// record writes the settings a later command reads back.
func (in *Instance) record() error {
	gw := "off"
	if in.GatewayPort > 0 {
		gw = strconv.Itoa(in.GatewayPort)
	}
	lines := []string{
		"API_PORT=" + strconv.Itoa(in.APIPort),
		"SWARM_PORT=" + strconv.Itoa(in.SwarmPort),
		"GATEWAY_PORT=" + gw,
		"BIN=" + in.Bin,
	}
	return settings.WriteRecorded(filepath.Join(in.Dir, "instance.conf"), lines)
}

// pidFile is the daemon's pid file; its argv word --repo-dir=REPO tells
// the daemon from any other process.
func (in *Instance) pidFile() proc.PIDFile {
	return proc.PIDFile{Label: in.Name, Path: filepath.Join(in.Dir, "daemon.pid"), Word: "--repo-dir=" + in.Repo}
}
