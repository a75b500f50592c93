package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kubo is one OFFLINE kubo daemon: pins of CIDs it lacks fail at once, the
// same way for every backend, and it never touches the network.
type kubo struct {
	dir     string
	apiPort int
	proc    *proc
}

// startKubo inits a repo in dir (profile test, API on 127.0.0.1:free port,
// gateway off) and starts `ipfs daemon --offline`.
func startKubo(ctx context.Context, ps *procs, ipfsBin, dir string) (*kubo, error) {
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	env := []string{"IPFS_PATH=" + repo, "IPFS_TELEMETRY=off"}
	if _, err := runCLI(ctx, time.Minute, filepath.Join(dir, "init.log"), env, ipfsBin, "init", "--profile", "test"); err != nil {
		return nil, fmt.Errorf("kubo init in %s: %w", repo, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	swarm, err := freePort()
	if err != nil {
		return nil, err
	}
	err = editJSON(filepath.Join(repo, "config"), func(c map[string]any) {
		setPath(c, "Addresses.API", []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)})
		setPath(c, "Addresses.Gateway", []string{})
		setPath(c, "Addresses.Swarm", []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", swarm)})
		setPath(c, "Bootstrap", []string{})
		setPath(c, "Discovery.MDNS.Enabled", false)
		setPath(c, "AutoConf.Enabled", false)
		setPath(c, "AutoTLS.Enabled", false)
		setPath(c, "Routing.DelegatedRouters", []string{})
		setPath(c, "Ipns.DelegatedPublishers", []string{})
		setPath(c, "Swarm.DisableNatPortMap", true)
	})
	if err != nil {
		return nil, fmt.Errorf("kubo config in %s: %w", repo, err)
	}
	p, err := ps.start("kubo "+dir, filepath.Join(dir, "daemon.log"), env,
		ipfsBin, "daemon", "--offline", "--migrate=false")
	if err != nil {
		return nil, err
	}
	k := &kubo{dir: dir, apiPort: port, proc: p}
	err = waitFor(ctx, time.Minute, p, func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/api/v0/version", port), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, fmt.Errorf("kubo in %s: %w", dir, err)
	}
	return k, nil
}

// editJSON rewrites a JSON object file through fn.
func editJSON(path string, fn func(map[string]any)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fn(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// setPath sets a dotted path in a JSON object, creating missing objects.
func setPath(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// getPath reads a dotted path of a JSON object (nil if absent).
func getPath(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = o[k]
	}
	return cur
}
