package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// backend is one way to run IPFS Cluster that the harness compares. It
// is driven only through its ipfs-cluster-service binary and REST API.
type backend struct {
	Name     string
	Bin      string
	InitArgs []string // after `init`, before --randomports --force
	UsesDB   bool     // keeps the pinset in the shared database
}

// knownBackends are the backends the harness knows, in report order:
// upstream v1.1.5 with crdt and with raft (both on pebble), and ours.
func knownBackends(binDir string) []*backend {
	up := filepath.Join(binDir, "upstream", "ipfs-cluster-service")
	return []*backend{
		{Name: "crdt", Bin: up, InitArgs: []string{"--consensus", "crdt", "--datastore", "pebble"}},
		{Name: "raft", Bin: up, InitArgs: []string{"--consensus", "raft", "--datastore", "pebble"}},
		{Name: "ours", Bin: filepath.Join(binDir, "ipfs-cluster-service"), InitArgs: []string{"--datastore", "scylla"}, UsesDB: true},
	}
}

// selectBackends returns the named backends (comma-separated) and checks
// that their binaries exist; "none" selects none (only the N-peer phase).
func selectBackends(binDir, names string) ([]*backend, error) {
	if names == "none" {
		return nil, nil
	}
	all := knownBackends(binDir)
	var out []*backend
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		i := slices.IndexFunc(all, func(b *backend) bool { return b.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("-backends: unknown backend %q (known: crdt, raft, ours)", n)
		}
		if _, err := os.Stat(all[i].Bin); err != nil {
			return nil, fmt.Errorf("backend %s: binary %s is missing: run `make build bench-upstream` (%w)", n, all[i].Bin, err)
		}
		out = append(out, all[i])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-backends: no backend selected")
	}
	return out, nil
}
