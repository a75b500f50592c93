//go:build scylla

// Package docker_test validates docker/docker-compose.yml without a
// container engine: the services it declares, the names they use for
// each other, and that every CLUSTER_* variable is one the peer applies
// (envconfig ignores unknown names silently) and gives a valid
// configuration, as docker/entrypoint.sh's `init` would.
package docker_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	yaml "gopkg.in/yaml.v2"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

type service struct {
	Image   string `yaml:"image"`
	Restart string `yaml:"restart"`
	Build   *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     string            `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
}

// composeFile holds what the file may declare; a key it does not know
// fails the strict parse, except top-level extension fields (x-...).
type composeFile struct {
	Services   map[string]service `yaml:"services"`
	Volumes    map[string]any     `yaml:"volumes"`
	Extensions map[string]any     `yaml:",inline"`
}

const testSecret = "7a0f5f6e9d3c2b1a0f9e8d7c6b5a493827161504f3e2d1c0b9a8978685746352"

var interpolation = regexp.MustCompile(`\$\{([A-Z_]+)(:?[?-][^}]*)?\}`)

// load reads the compose file, interpolating ${CLUSTER_SECRET...} as
// compose would with the variable exported.
func load(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	raw = interpolation.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(interpolation.FindSubmatch(m)[1])
		if name != "CLUSTER_SECRET" {
			t.Errorf("the compose file interpolates %s: document it or drop it", name)
		}
		return []byte(testSecret)
	})
	var f composeFile
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		t.Fatalf("docker-compose.yml: %s", err)
	}
	for k := range f.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("docker-compose.yml: unknown top-level key %q", k)
		}
	}
	return f
}

// byKind sorts the services into scylla, kubo and cluster peers.
func byKind(t *testing.T, f composeFile) (scylla, kubo, cluster []string) {
	for name, s := range f.Services {
		switch {
		case strings.HasPrefix(s.Image, "scylladb/scylla:"):
			scylla = append(scylla, name)
		case strings.HasPrefix(s.Image, "ipfs/kubo:"):
			kubo = append(kubo, name)
		case s.Build != nil:
			cluster = append(cluster, name)
		default:
			t.Errorf("service %s: neither Scylla, kubo nor built from the Dockerfile", name)
		}
	}
	sort.Strings(scylla)
	sort.Strings(kubo)
	sort.Strings(cluster)
	return scylla, kubo, cluster
}

func TestComposeDeclaresThreeScyllaThreeKuboThreePeers(t *testing.T) {
	f := load(t)
	scylla, kubo, cluster := byKind(t, f)
	if len(scylla) != 3 || len(kubo) != 3 || len(cluster) != 3 {
		t.Fatalf("services: scylla %v, kubo %v, cluster %v; want 3 of each", scylla, kubo, cluster)
	}
	for _, name := range cluster {
		b := f.Services[name].Build
		dockerfile := filepath.Join(b.Context, b.Dockerfile)
		if _, err := os.Stat(dockerfile); err != nil || filepath.Clean(dockerfile) != filepath.Join("..", "Dockerfile") {
			t.Errorf("%s builds %s: want the repository's Dockerfile (%v)", name, dockerfile, err)
		}
	}
	for _, name := range scylla {
		if !strings.Contains(f.Services[name].Command, "--seeds="+scylla[0]) {
			t.Errorf("%s: command %q does not name the seed %s", name, f.Services[name].Command, scylla[0])
		}
	}
}

func TestComposeReferencesResolve(t *testing.T) {
	f := load(t)
	usedVolumes := map[string]string{}
	published := map[string]string{}
	for name, s := range f.Services {
		for dep, d := range s.DependsOn {
			target, ok := f.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		for _, v := range s.Volumes {
			vol := strings.SplitN(v, ":", 2)[0]
			if _, ok := f.Volumes[vol]; !ok {
				t.Errorf("%s mounts %s, which is not a declared volume", name, vol)
			}
			if other, ok := usedVolumes[vol]; ok {
				t.Errorf("volume %s is mounted by %s and %s", vol, other, name)
			}
			usedVolumes[vol] = name
		}
		for _, p := range s.Ports {
			hostPort := p[:strings.LastIndex(p, ":")]
			if other, ok := published[hostPort]; ok {
				t.Errorf("%s and %s both publish %s", other, name, hostPort)
			}
			published[hostPort] = name
		}
	}
}

// clearClusterEnv unsets the CLUSTER_* variables of the test's own
// environment for the test.
func clearClusterEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CLUSTER_") {
			t.Setenv(name, value) // restored at the end
			os.Unsetenv(name)
		}
	}
}

// initHelper returns the configuration `init --datastore scylla` writes
// with env, and its JSON.
func initHelper(t *testing.T, base []byte, env map[string]string) (*config.Helper, []byte) {
	t.Helper()
	dir := t.TempDir()
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), "", config.Scylla)
	if err != nil {
		t.Fatal(err)
	}
	// Shutdown waits for the manager's save ticker (up to a second):
	// in the background, all at the end.
	t.Cleanup(func() { go h.Manager().Shutdown() })
	if err := h.Manager().LoadJSON(base); err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if err := h.Manager().ApplyEnvVars(); err != nil {
		t.Fatalf("applying %v: %s", env, err)
	}
	js, err := h.Manager().ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	for k := range env {
		os.Unsetenv(k)
	}
	return h, js
}

func TestComposeClusterEnvironmentIsAppliedAndValid(t *testing.T) {
	clearClusterEnv(t)
	f := load(t)
	scylla, kubo, cluster := byKind(t, f)

	dir := t.TempDir()
	h, err := config.NewHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"), "", config.Scylla)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	if err := h.Manager().Default(); err != nil {
		t.Fatal(err)
	}
	base, err := h.Manager().ToJSON()
	if err != nil {
		t.Fatal(err)
	}

	usedKubo := map[string]string{}
	names, keyspaces := map[string]bool{}, map[string]bool{}
	for _, name := range cluster {
		env := f.Services[name].Environment
		for k, v := range env {
			if !strings.HasPrefix(k, "CLUSTER_") {
				continue
			}
			if _, js := initHelper(t, base, map[string]string{k: v}); bytes.Equal(js, base) {
				t.Errorf("%s: %s=%s changes nothing: the peer does not know this variable (a typo?) or it sets the default", name, k, v)
			}
		}
		h, _ := initHelper(t, base, env)
		if err := h.Manager().Validate(); err != nil {
			t.Errorf("%s: the configuration init writes with this environment is invalid: %s", name, err)
			continue
		}
		c := h.Configs()
		if got := strings.Join(c.ScyllaState.Hosts, ","); got != strings.Join(scylla, ",") {
			t.Errorf("%s: scyllastate hosts %s, want the Scylla services %s", name, got, strings.Join(scylla, ","))
		}
		if c.ScyllaState.ReplicationFactor > len(scylla) {
			t.Errorf("%s: replication factor %d with %d Scylla nodes", name, c.ScyllaState.ReplicationFactor, len(scylla))
		}
		if keyspaces[c.ScyllaState.Keyspace] = true; len(keyspaces) != 1 {
			t.Errorf("%s: keyspace %q: every peer must share one keyspace (%v)", name, c.ScyllaState.Keyspace, keyspaces)
		}
		node := c.Ipfshttp.NodeAddr.String()
		m := regexp.MustCompile(`^/dns4/([a-z0-9]+)/tcp/5001$`).FindStringSubmatch(node)
		if m == nil || f.Services[m[1]].Image == "" || !strings.HasPrefix(f.Services[m[1]].Image, "ipfs/kubo:") {
			t.Errorf("%s: ipfshttp node %s is not the API of a kubo service (%v)", name, node, kubo)
		} else if other, ok := usedKubo[m[1]]; ok {
			t.Errorf("%s and %s share %s", other, name, m[1])
		} else {
			usedKubo[m[1]] = name
			if _, ok := f.Services[name].DependsOn[m[1]]; !ok {
				t.Errorf("%s uses %s but does not depend on it", name, m[1])
			}
		}
		if c.Ipfsproxy.NodeAddr.String() != node {
			t.Errorf("%s: the IPFS proxy uses %s, the connector %s", name, c.Ipfsproxy.NodeAddr, node)
		}
		if names[c.Cluster.Peername] {
			t.Errorf("%s: peername %s used twice", name, c.Cluster.Peername)
		}
		names[c.Cluster.Peername] = true
		if len(c.Cluster.Secret) != 32 {
			t.Errorf("%s: the secret is not CLUSTER_SECRET", name)
		}
		for _, p := range f.Services[name].Ports {
			port := p[strings.LastIndex(p, ":")+1:]
			found := false
			for _, a := range c.Restapi.HTTPListenAddr {
				found = found || strings.HasPrefix(a.String(), "/ip4/0.0.0.0/tcp/"+port)
			}
			if !found {
				t.Errorf("%s publishes %s but its REST API listens on %v", name, p, c.Restapi.HTTPListenAddr)
			}
		}
	}
}

func TestComposeMatchesTheImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{
		"IPFS_CLUSTER_PATH=/data/ipfs-cluster", // the volumes mount it
		"IPFS_CLUSTER_DATASTORE=scylla",        // entrypoint.sh: init --datastore scylla
		`ENTRYPOINT ["tini", "--", "/usr/local/bin/entrypoint.sh"]`,
		`CMD ["daemon"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %s, which docker-compose.yml relies on", want)
		}
	}
	for name, s := range load(t).Services {
		for _, v := range s.Volumes {
			if s.Build != nil && !strings.HasSuffix(v, ":/data/ipfs-cluster") {
				t.Errorf("%s mounts %s: the image keeps its folder in /data/ipfs-cluster", name, v)
			}
		}
	}
}
