// Package docker_test validates docker/docker-compose.yml without a
// container engine. Here, the file itself: the services it declares, the
// names they use for each other, the image they build, and that the
// ScyllaDB nodes run several shards with the shard-aware port open to the
// peers. With the scylla build tag (compose_config_test.go), also that
// every CLUSTER_* variable is one the peer applies (envconfig ignores
// unknown names silently) and gives a valid configuration, as
// docker/entrypoint.sh's `init` would, whose replication fits the nodes.
package docker_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	yaml "gopkg.in/yaml.v2"
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
	Expose      []string          `yaml:"expose"`
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

// flag returns the value of --name in a ScyllaDB command ("--name value"
// or "--name=value"), and whether it is there.
func flag(command, name string) (string, bool) {
	fields := strings.Fields(command)
	for i, f := range fields {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
		if f == "--"+name && i+1 < len(fields) {
			return fields[i+1], true
		}
	}
	return "", false
}

// The ScyllaDB nodes run a 2025 release with real shards (at least 2 per
// node, at least 1 GiB each), overprovisioned, in developer mode (the
// compose file says why), and open the shard-aware port to the peers.
func TestComposeScyllaRunsShards(t *testing.T) {
	f := load(t)
	scylla, _, _ := byKind(t, f)
	for _, name := range scylla {
		s := f.Services[name]
		tag := strings.TrimPrefix(s.Image, "scylladb/scylla:")
		if !regexp.MustCompile(`^2025\.[34](\.[0-9]+)?$`).MatchString(tag) {
			t.Errorf("%s: image %s, want scylladb/scylla:2025.3 or 2025.4", name, s.Image)
		}
		smp, _ := flag(s.Command, "smp")
		shards, err := strconv.Atoi(smp)
		if err != nil || shards < 2 {
			t.Errorf("%s: --smp %q, want 2 shards or more", name, smp)
			continue
		}
		mem, _ := flag(s.Command, "memory")
		gib, err := strconv.Atoi(strings.TrimSuffix(mem, "G"))
		if err != nil || !strings.HasSuffix(mem, "G") || gib < shards {
			t.Errorf("%s: --memory %q for %d shards, want at least 1G per shard", name, mem, shards)
		}
		for flagName, want := range map[string]string{"overprovisioned": "1", "developer-mode": "1"} {
			if got, _ := flag(s.Command, flagName); got != want {
				t.Errorf("%s: --%s %q, want %s", name, flagName, got, want)
			}
		}
		open := slices.Contains(s.Expose, "19042")
		for _, p := range s.Ports {
			open = open || strings.HasSuffix(p, ":19042")
		}
		if !open {
			t.Errorf("%s exposes %v and publishes %v: not the shard-aware port 19042", name, s.Expose, s.Ports)
		}
	}
}
