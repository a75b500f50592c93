//go:build scylla

package docker_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

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
// with env, and its JSON. An invalid configuration fails t.
func initHelper(t *testing.T, base []byte, env map[string]string) (*config.Helper, []byte) {
	t.Helper()
	h, js, err := tryInit(t, base, env)
	if err != nil {
		t.Fatalf("with %v: %s", env, err)
	}
	return h, js
}

// tryInit is initHelper that returns the error of an environment that
// does not apply or gives an invalid configuration.
func tryInit(t *testing.T, base []byte, env map[string]string) (*config.Helper, []byte, error) {
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
	defer func() {
		for k := range env {
			os.Unsetenv(k)
		}
	}()
	if err := h.Manager().ApplyEnvVars(); err != nil {
		return nil, nil, fmt.Errorf("applying the environment: %w", err)
	}
	js, err := h.Manager().ToJSON()
	if err != nil {
		return nil, nil, err
	}
	return h, js, nil
}

func TestComposeClusterEnvironmentIsAppliedAndValid(t *testing.T) {
	clearClusterEnv(t)
	f := load(t)
	scylla, kubo, cluster := byKind(t, f)

	base := defaultServiceJSON(t)

	usedKubo := map[string]string{}
	names, keyspaces := map[string]bool{}, map[string]bool{}
	for _, name := range cluster {
		env := f.Services[name].Environment
		h, full := initHelper(t, base, env)
		// Each variable counts: without it, the configuration differs or
		// is invalid (some only make sense together, such as
		// replicationstrategy and dcreplication).
		for k, v := range env {
			if !strings.HasPrefix(k, "CLUSTER_") {
				continue
			}
			without := maps.Clone(env)
			delete(without, k)
			if _, js, err := tryInit(t, base, without); err == nil && bytes.Equal(js, full) {
				t.Errorf("%s: %s=%s changes nothing: the peer does not know this variable (a typo?) or it sets the default", name, k, v)
			}
		}
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

// The replication the peers create the keyspace with fits the nodes: a
// NetworkTopologyStrategy names only data centers the nodes are in (their
// --dc; without one, ScyllaDB's datacenter1), with no more replicas than
// nodes there.
func TestComposeReplicationMatchesTheNodes(t *testing.T) {
	clearClusterEnv(t)
	f := load(t)
	scylla, _, cluster := byKind(t, f)
	nodes := map[string]int{}
	racks := map[string]map[string]bool{}
	for _, name := range scylla {
		dc, ok := flag(f.Services[name].Command, "dc")
		if !ok {
			dc = "datacenter1"
		}
		nodes[dc]++
		rack, _ := flag(f.Services[name].Command, "rack")
		if racks[dc] == nil {
			racks[dc] = map[string]bool{}
		}
		racks[dc][rack] = true
	}

	base := defaultServiceJSON(t)
	for _, name := range cluster {
		ph, _ := initHelper(t, base, f.Services[name].Environment)
		c := ph.Configs().ScyllaState
		switch c.ReplicationStrategy {
		case scyllastate.NetworkTopologyStrategy:
			if len(c.DCReplication) == 0 {
				t.Errorf("%s: NetworkTopologyStrategy without dc_replication", name)
			}
			for dc, rf := range c.DCReplication {
				switch {
				case nodes[dc] == 0:
					t.Errorf("%s: dc_replication names data center %q; the nodes are in %v", name, dc, nodes)
				case rf > nodes[dc]:
					t.Errorf("%s: %d replicas in %s, which has %d nodes", name, rf, dc, nodes[dc])
				case len(racks[dc]) > 1 && len(racks[dc]) != rf:
					t.Errorf("%s: %d replicas in %s, over %d racks: one replica per rack wants as many", name, rf, dc, len(racks[dc]))
				}
			}
		case scyllastate.SimpleStrategy:
			if c.ReplicationFactor > len(scylla) {
				t.Errorf("%s: replication factor %d with %d nodes", name, c.ReplicationFactor, len(scylla))
			}
		default:
			t.Errorf("%s: replication strategy %q", name, c.ReplicationStrategy)
		}
	}
}

// defaultServiceJSON is the service.json of a Scylla peer with every
// default, the base the compose environment is applied to.
func defaultServiceJSON(t *testing.T) []byte {
	t.Helper()
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
	return base
}
