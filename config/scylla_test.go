//go:build scylla

package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func TestResolveScylla(t *testing.T) {
	for _, c := range [][2]string{{"", "scylla"}, {"scylla", ""}, {"scylla", "scylla"}} {
		cons, ds, err := Resolve(c[0], c[1])
		if err != nil || cons != Scylla || ds != Scylla {
			t.Errorf("Resolve(%q, %q) = %q, %q, %v; want scylla, scylla", c[0], c[1], cons, ds, err)
		}
	}
	if _, _, err := Resolve("scylla", "pebble"); !errors.Is(err, ErrBadCombination) {
		t.Errorf("scylla consensus over pebble: want ErrBadCombination, got %v", err)
	}
}

func TestInitScyllaWritesOnlyScyllaSections(t *testing.T) {
	dir := writeInit(t, "", "scylla")
	raw, err := os.ReadFile(filepath.Join(dir, "service.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Consensus map[string]json.RawMessage `json:"consensus"`
		State     map[string]json.RawMessage `json:"state"`
		Datastore map[string]json.RawMessage `json:"datastore"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Consensus) != 1 || cfg.Consensus["scylla"] == nil {
		t.Errorf("consensus sections: %v, want only scylla", keys(cfg.Consensus))
	}
	if len(cfg.State) != 1 || cfg.State[ScyllaStateKey] == nil {
		t.Errorf("state sections: %v, want only scyllastate", keys(cfg.State))
	}
	if len(cfg.Datastore) != 0 {
		t.Errorf("datastore sections: %v, want none (the pinset is in Scylla)", keys(cfg.Datastore))
	}
	if ScyllaStateKey != scyllastate.ConfigKey {
		t.Errorf("ScyllaStateKey %q != scyllastate.ConfigKey %q", ScyllaStateKey, scyllastate.ConfigKey)
	}

	h, err := load(dir)
	if err != nil {
		t.Fatalf("the daemon refuses what init wrote: %s", err)
	}
	defer h.Manager().Shutdown()
	if h.Consensus() != Scylla || h.Configs().ScyllaState.Keyspace != scyllastate.DefaultKeyspace {
		t.Fatalf("loaded consensus %q keyspace %q", h.Consensus(), h.Configs().ScyllaState.Keyspace)
	}
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func editScylla(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "service.json")
	raw, _ := os.ReadFile(path)
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg["state"].(map[string]any)[ScyllaStateKey].(map[string]any))
	out, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBadScyllaValuesAreRefusedAtLoad(t *testing.T) {
	cases := []struct {
		field string
		value any
	}{
		{"keyspace", "pins; DROP KEYSPACE x"},
		{"consistency", "MOST"},
		{"port", 70000},
		{"timeout", "soon"},
		{"event_retention", "1s"},
	}
	for _, c := range cases {
		dir := writeInit(t, "", "scylla")
		editScylla(t, dir, func(s map[string]any) { s[c.field] = c.value })
		_, err := load(dir)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s=%v: want an error naming the field, got %v", c.field, c.value, err)
		}
	}
}

func TestEnvOverridesScyllaAtLoad(t *testing.T) {
	dir := writeInit(t, "", "scylla")
	t.Setenv("CLUSTER_SCYLLASTATE_KEYSPACE", "from_env")
	t.Setenv("CLUSTER_SCYLLA_POLLINTERVAL", "250ms")
	h, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	if ks := h.Configs().ScyllaState.Keyspace; ks != "from_env" {
		t.Errorf("keyspace %q, want from_env", ks)
	}
	if pi := h.Configs().Scylla.PollInterval.String(); pi != "250ms" {
		t.Errorf("poll interval %s, want 250ms", pi)
	}
}

func TestDisplayedConfigHidesThePassword(t *testing.T) {
	dir := writeInit(t, "", "scylla")
	editScylla(t, dir, func(s map[string]any) { s["username"] = "cluster"; s["password"] = "s3cr3t-pw" })
	h, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Manager().Shutdown()
	display, err := h.Manager().ToDisplayJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(display), "s3cr3t-pw") {
		t.Fatal("the displayed configuration shows the database password")
	}
}

func TestBadEnvOverrideIsRefusedAtLoad(t *testing.T) {
	dir := writeInit(t, "", "scylla")
	t.Setenv("CLUSTER_SCYLLASTATE_PORT", "0")
	if _, err := load(dir); err == nil || !strings.Contains(err.Error(), "scyllastate.port") {
		t.Fatalf("CLUSTER_SCYLLASTATE_PORT=0: want an error naming scyllastate.port, got %v", err)
	}
}
