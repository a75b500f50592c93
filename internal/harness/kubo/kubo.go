// Package kubo runs throwaway kubo (`ipfs`) daemons on loopback for the
// tests and benchmarks: `ipfs init --profile test`, API and swarm on
// 127.0.0.1 only, no bootstrap peers, no MDNS, no AutoConf/AutoTLS/NAT
// port mapping, no delegated routers, telemetry off.
//
// Two kinds: a named Instance (Load; config.go, instance.go,
// lifecycle.go) is a detached daemon known by its pid file, which
// outlives the command that started it: scripts/kubo.sh is its command
// line (scripts/harness). StartOffline (this file) starts an offline
// daemon owned by a proc.Group, for the benchmark.
package kubo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// Daemon is one kubo daemon owned by a proc.Group.
type Daemon struct {
	Dir     string
	APIPort int
	Proc    *proc.Proc
}

// Loopback sets the loopback-only, no-internet settings of a kubo config
// (on top of --profile test); gateway 0 turns the gateway off.
func Loopback(c map[string]any, api, swarm, gateway int) {
	tcp := func(p int) []string { return []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p)} }
	jsonconf.Set(c, "Addresses.API", tcp(api))
	jsonconf.Set(c, "Addresses.Gateway", []string{})
	if gateway > 0 {
		jsonconf.Set(c, "Addresses.Gateway", tcp(gateway))
	}
	jsonconf.Set(c, "Addresses.Swarm", tcp(swarm))
	jsonconf.Set(c, "Addresses.Announce", []string{})
	jsonconf.Set(c, "Addresses.NoAnnounce", []string{})
	jsonconf.Set(c, "Bootstrap", []string{})
	jsonconf.Set(c, "Discovery.MDNS.Enabled", false)
	jsonconf.Set(c, "AutoConf.Enabled", false)
	jsonconf.Set(c, "AutoTLS.Enabled", false)
	jsonconf.Set(c, "Swarm.DisableNatPortMap", true)
	jsonconf.Set(c, "Swarm.RelayClient.Enabled", false)
	jsonconf.Set(c, "Swarm.RelayService.Enabled", false)
	jsonconf.Set(c, "Routing.DelegatedRouters", []string{})
	jsonconf.Set(c, "Ipns.DelegatedPublishers", []string{})
	jsonconf.Set(c, "DNS.Resolvers", map[string]any{})
	jsonconf.Set(c, "AutoNAT.ServiceMode", "disabled")
	jsonconf.Set(c, "Plugins.Plugins.telemetry.Config", map[string]any{"Mode": "off"})
}

// APIReady tells whether the RPC API on 127.0.0.1:port answers POST
// /api/v0/version with a version (within 5 s, or ctx's deadline).
func APIReady(ctx context.Context, port int) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/api/v0/version", port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return err == nil && resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"Version"`))
}

// StartOffline inits a repo in dir/repo (profile test, API and swarm on
// free loopback ports, gateway off) and starts `ipfs daemon --offline` in
// g: pins of CIDs it lacks fail at once, and it never touches the network.
func StartOffline(ctx context.Context, g *proc.Group, ipfsBin, dir string) (*Daemon, error) {
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	env := []string{"IPFS_PATH=" + repo, "IPFS_TELEMETRY=off"}
	if _, err := proc.RunCLI(ctx, time.Minute, filepath.Join(dir, "init.log"), env, ipfsBin, "init", "--profile", "test"); err != nil {
		return nil, fmt.Errorf("kubo init in %s: %w", repo, err)
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	swarm, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	if err := jsonconf.Edit(filepath.Join(repo, "config"), func(c map[string]any) { Loopback(c, port, swarm, 0) }); err != nil {
		return nil, fmt.Errorf("kubo config in %s: %w", repo, err)
	}
	p, err := g.Start("kubo "+dir, filepath.Join(dir, "daemon.log"), env, ipfsBin, "daemon", "--offline", "--migrate=false")
	if err != nil {
		return nil, err
	}
	if err := proc.WaitFor(ctx, time.Minute, p, func(ctx context.Context) bool { return APIReady(ctx, port) }); err != nil {
		return nil, fmt.Errorf("kubo in %s: %w", dir, err)
	}
	return &Daemon{Dir: dir, APIPort: port, Proc: p}, nil
}
