//go:build scylla

package docs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config/configtest"
	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
)

// configExampleMarker precedes a ```json block that is a service.json, or
// sections of one: the test loads it as the daemon does.
const configExampleMarker = "<!-- config-example -->"

// topSections are the keys of service.json; sectionHomes are the keys of
// our sections, which an example may show on their own.
var (
	topSections = map[string]bool{
		"cluster": true, "consensus": true, "api": true, "ipfs_connector": true, "state": true,
		"pin_tracker": true, "monitor": true, "allocator": true, "informer": true,
		"observations": true, "datastore": true,
	}
	sectionHomes = map[string]string{
		"scyllastate":  "state",
		"scylla":       "consensus",
		"scyllahealth": "informer",
	}
)

// parseExample reads a block: a JSON object, or its members without the
// braces (`"scyllastate": {...}`), and files each section where
// service.json keeps it. ok is false when the block is not a
// configuration at all (a report, say).
func parseExample(body string) (sections map[string]any, ok bool, err error) {
	text := strings.TrimSpace(body)
	if !strings.HasPrefix(text, "{") {
		text = "{" + text + "}"
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return nil, false, err
	}
	sections = map[string]any{}
	for k, v := range obj {
		switch {
		case topSections[k]:
			sections[k] = merge(sections[k], v)
		case sectionHomes[k] != "":
			sections[sectionHomes[k]] = merge(sections[sectionHomes[k]], map[string]any{k: v})
		default:
			return nil, false, fmt.Errorf("%q is not a section of service.json", k)
		}
	}
	return sections, len(sections) > 0, nil
}

// merge returns base with over's values on top, objects merged key by key.
func merge(base, over any) any {
	b, okB := base.(map[string]any)
	o, okO := over.(map[string]any)
	if !okB || !okO {
		return over
	}
	out := map[string]any{}
	for k, v := range b {
		out[k] = v
	}
	for k, v := range o {
		out[k] = merge(out[k], v)
	}
	return out
}

// baseFolder writes a configuration folder as `init --datastore scylla`
// does (every section at its defaults, a new identity) and returns the
// service.json it holds, as JSON.
func baseFolder(t *testing.T) (service map[string]any, identity string) {
	t.Helper()
	dir := t.TempDir()
	identity = filepath.Join(dir, "identity.json")
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), identity, "", config.Scylla)
	if err != nil {
		t.Fatal(err)
	}
	if err := configtest.WriteNew(h, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(h.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &service); err != nil {
		t.Fatal(err)
	}
	return service, identity
}

// clearClusterEnv keeps the CLUSTER_* variables of whoever runs the test
// out of the configurations it loads.
func clearClusterEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CLUSTER_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// startChecks loads a service.json made of the base and the example's
// sections as the daemon does (every section validated, environment
// applied) and passes it through what the daemon checks before it starts
// a scylla peer: creating the consensus, which refuses a feed_overlap too
// short for the store's writes. The consensus is stopped before it
// connects (it waits for its RPC client, which it never gets here).
func startChecks(t *testing.T, base map[string]any, identity string, example map[string]any) error {
	t.Helper()
	service := merge(base, example)
	raw, err := json.MarshalIndent(service, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(t.TempDir(), "service.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return err
	}
	h, err := config.NewLoadedHelper(path, identity)
	if err != nil {
		return err
	}
	if h.Consensus() != config.Scylla {
		return fmt.Errorf("the configuration selects the %s consensus, not scylla", h.Consensus())
	}
	cfgs := h.Configs()
	cfgs.Scylla.StateSyncInterval = cfgs.Cluster.StateSyncInterval // as the daemon does
	cfgs.Scylla.PinRecoverInterval = cfgs.Cluster.PinRecoverInterval
	host, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	cons, err := scyllacons.New(host, nil, cfgs.Scylla, cfgs.ScyllaState)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cons.Shutdown(ctx)
}

// TestConfigExamplesPassTheStartChecks: every configuration example of
// the README and of docs/ is accepted by the daemon: it loads, validates
// and passes the checks made before a peer starts.
func TestConfigExamplesPassTheStartChecks(t *testing.T) {
	clearClusterEnv(t)
	base, identity := baseFolder(t)
	examples := 0
	for _, page := range allPages(t) {
		for _, b := range fencedBlocks(readLines(t, page)) {
			if b.lang != "json" {
				continue
			}
			sections, isConfig, err := parseExample(b.body)
			if b.marker != configExampleMarker {
				if isConfig {
					t.Errorf("%s:%d: a configuration without %s above it: mark it so that it is checked", page, b.line, configExampleMarker)
				}
				continue
			}
			examples++
			if err != nil || !isConfig {
				t.Errorf("%s:%d: the example is not a service.json or sections of one: %v", page, b.line, err)
				continue
			}
			if err := startChecks(t, base, identity, sections); err != nil {
				t.Errorf("%s:%d: the daemon refuses this example:\n%v", page, b.line, err)
			}
		}
	}
	if examples == 0 {
		t.Fatalf("no %s block in the README or docs/", configExampleMarker)
	}
}

// TestProductionExamplePassesTheStartChecks: the scyllastate section that
// the usage guide's production example prints is one the daemon accepts
// with the default consensus.scylla section.
func TestProductionExamplePassesTheStartChecks(t *testing.T) {
	clearClusterEnv(t)
	base, identity := baseFolder(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run examples/production: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "run", "./examples/production")
	cmd.Env = append(os.Environ(), "CLUSTER_SCYLLASTATE_USERNAME=cluster", "CLUSTER_SCYLLASTATE_PASSWORD=example")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run ./examples/production: %v\n%s", err, stderr.String())
	}
	sections, isConfig, err := parseExample(string(out))
	if err != nil || !isConfig {
		t.Fatalf("examples/production printed no service.json section (%v):\n%s", err, out)
	}
	if err := startChecks(t, base, identity, sections); err != nil {
		t.Errorf("examples/production/main.go: the daemon refuses the section it prints:\n%v", err)
	}
}
