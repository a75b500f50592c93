//go:build scylla

package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// secretPassword is set in every bad file: no error may show it.
const secretPassword = "S3cr3t-in-bad-config-7f2a"

// badValue is one wrong value of one field of a Scylla section.
type badValue struct {
	field string // JSON path in the section: "port", "tls.enabled"
	value any
	want  string // what the error must name
}

// stateBad covers every field of state.scyllastate with a wrong JSON type
// and, where it has one, an out-of-range or unknown value.
var stateBad = []badValue{
	{"hosts", "127.0.0.1", "scyllastate.hosts"},
	{"hosts", []any{1}, "scyllastate.hosts"},
	{"hosts", []any{}, "scyllastate.hosts"},
	{"hosts", []any{""}, "scyllastate.hosts"},
	{"hosts", []any{"db1 db2"}, "scyllastate.hosts"},
	{"hosts", []any{"db1,db2"}, "scyllastate.hosts"},
	{"port", "9042", "scyllastate.port"},
	{"port", 9042.5, "scyllastate.port"},
	{"port", 0, "scyllastate.port"},
	{"port", 65536, "scyllastate.port"},
	{"keyspace", 7, "scyllastate.keyspace"},
	{"keyspace", "", "scyllastate.keyspace"},
	{"keyspace", "pins; DROP KEYSPACE system", "scyllastate.keyspace"},
	{"keyspace", `pins"x`, "scyllastate.keyspace"},
	{"keyspace", "1pins", "scyllastate.keyspace"},
	{"keyspace", "my-pins", "scyllastate.keyspace"},
	{"keyspace", strings.Repeat("k", 49), "scyllastate.keyspace"},
	{"keyspace", "system_auth", "scyllastate.keyspace"},
	{"username", 1, "scyllastate.username"},
	{"password", true, "scyllastate.password"},
	{"consistency", 1, "scyllastate.consistency"},
	{"consistency", "MOSTLY", "scyllastate.consistency"},
	{"consistency", "SERIAL", "scyllastate.consistency"},
	{"consistency", "", "scyllastate.consistency"},
	{"event_consistency", []any{}, "scyllastate.event_consistency"},
	{"event_consistency", "EVERYWHERE", "scyllastate.event_consistency"},
	{"serial_consistency", 2, "scyllastate.serial_consistency"},
	{"serial_consistency", "QUORUM", "scyllastate.serial_consistency"},
	{"serial_consistency", "", "scyllastate.serial_consistency"},
	{"timeout", 10, "scyllastate.timeout"},
	{"timeout", "soon", "scyllastate.timeout"},
	{"timeout", "-1s", "scyllastate.timeout"},
	{"timeout", "2h", "scyllastate.timeout"},
	{"connect_timeout", false, "scyllastate.connect_timeout"},
	{"connect_timeout", "0s", "scyllastate.connect_timeout"},
	{"num_conns", "2", "scyllastate.num_conns"},
	{"num_conns", 0, "scyllastate.num_conns"},
	{"token_aware_routing", "yes", "scyllastate.token_aware_routing"},
	{"dc_aware_routing", 1, "scyllastate.dc_aware_routing"},
	{"dc_aware_routing", true, "scyllastate.local_dc"},
	{"local_dc", 3, "scyllastate.local_dc"},
	{"local_dc", "dc'1", "scyllastate.local_dc"},
	{"local_dc", "dc 1", "scyllastate.local_dc"},
	{"page_size", "5000", "scyllastate.page_size"},
	{"page_size", 0, "scyllastate.page_size"},
	{"prepared_statement_cache_size", []any{1}, "scyllastate.prepared_statement_cache_size"},
	{"prepared_statement_cache_size", -1, "scyllastate.prepared_statement_cache_size"},
	{"tls", "on", "scyllastate.tls"},
	{"tls.enabled", "true", "scyllastate.tls.enabled"},
	{"tls.cert_file", 5, "scyllastate.tls.cert_file"},
	{"tls.key_file", 5, "scyllastate.tls.key_file"},
	{"tls.ca_file", 5, "scyllastate.tls.ca_file"},
	{"tls.insecure_skip_verify", "no", "scyllastate.tls.insecure_skip_verify"},
	{"tls", map[string]any{"enabled": true, "cert_file": "/c.pem"}, "scyllastate.tls.cert_file"},
	{"retry_policy", 3, "scyllastate.retry_policy"},
	{"retry_policy.num_retries", "3", "scyllastate.retry_policy.num_retries"},
	{"retry_policy.num_retries", -1, "scyllastate.retry_policy.num_retries"},
	{"retry_policy.num_retries", 1000000, "scyllastate.retry_policy.num_retries"},
	{"retry_policy.min_retry_delay", 100, "scyllastate.retry_policy.min_retry_delay"},
	{"retry_policy.min_retry_delay", "0s", "scyllastate.retry_policy.min_retry_delay"},
	{"retry_policy.max_retry_delay", "1ms", "scyllastate.retry_policy.max_retry_delay"},
	{"retry_policy.max_retry_delay", "a while", "scyllastate.retry_policy.max_retry_delay"},
	{"metrics_enabled", "true", "scyllastate.metrics_enabled"},
	{"schema_mode", 1, "scyllastate.schema_mode"},
	{"schema_mode", "drop", "scyllastate.schema_mode"},
	{"replication_strategy", 1, "scyllastate.replication_strategy"},
	{"replication_strategy", "LocalStrategy", "scyllastate.replication_strategy"},
	{"replication_strategy", "NetworkTopologyStrategy", "scyllastate.dc_replication"},
	{"replication_factor", "3", "scyllastate.replication_factor"},
	{"replication_factor", 0, "scyllastate.replication_factor"},
	{"dc_replication", []any{"dc1"}, "scyllastate.dc_replication"},
	{"dc_replication", map[string]any{"dc1": "3"}, "scyllastate.dc_replication"},
	{"batch_size", 1.5, "scyllastate.batch_size"},
	{"batch_size", 0, "scyllastate.batch_size"},
	{"write_concurrency", "16", "scyllastate.write_concurrency"},
	{"write_concurrency", 0, "scyllastate.write_concurrency"},
	{"list_concurrency", "8", "scyllastate.list_concurrency"},
	{"list_concurrency", -8, "scyllastate.list_concurrency"},
	{"event_retention", 7, "scyllastate.event_retention"},
	{"event_retention", "1s", "scyllastate.event_retention"},
	{"event_retention", "200000h", "scyllastate.event_retention"},
}

// nts: NetworkTopologyStrategy with data centers (keys are spliced into
// CQL: only safe names).
var ntsBad = []map[string]any{
	{"dc1'); DROP KEYSPACE x; --": 3},
	{"dc 1": 3},
	{"": 3},
	{"dc1": 0},
}

// consensusBad covers every field of consensus.scylla.
var consensusBad = []badValue{
	{"cluster_name", 1, "consensus.scylla.cluster_name"},
	{"cluster_name", "", "consensus.scylla.cluster_name"},
	{"trusted_peers", "*", "consensus.scylla.trusted_peers"},
	{"trusted_peers", []any{1}, "consensus.scylla.trusted_peers"},
	{"trusted_peers", []any{"not-a-peer"}, "consensus.scylla.trusted_peers"},
	{"poll_interval", 1, "consensus.scylla.poll_interval"},
	{"poll_interval", "1ns", "consensus.scylla.poll_interval"},
	{"poll_interval", "often", "consensus.scylla.poll_interval"},
	{"feed_overlap", true, "consensus.scylla.feed_overlap"},
	{"feed_overlap", "500ms", "consensus.scylla.feed_overlap"},
	{"feed_overlap", "10000h", "consensus.scylla.feed_overlap"},
	{"checkpoint_interval", []any{}, "consensus.scylla.checkpoint_interval"},
	{"checkpoint_interval", "-1s", "consensus.scylla.checkpoint_interval"},
	{"catch_up_concurrency", "16", "consensus.scylla.catch_up_concurrency"},
	{"catch_up_concurrency", 0, "consensus.scylla.catch_up_concurrency"},
	{"ready_timeout", 30, "consensus.scylla.ready_timeout"},
	{"ready_timeout", "0s", "consensus.scylla.ready_timeout"},
	{"pin_queue_limit", "many", "consensus.scylla.pin_queue_limit"},
	{"pin_queue_limit", -1, "consensus.scylla.pin_queue_limit"},
	{"recover_slices", 1.5, "consensus.scylla.recover_slices"},
	{"recover_slices", 0, "consensus.scylla.recover_slices"},
}

// setPath sets a dotted JSON path in a section.
func setPath(section map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	m := section
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// editSections rewrites service.json in dir: state.scyllastate and
// consensus.scylla, with a username and the secret password set.
func editSections(t *testing.T, dir string, edit func(state, cons map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "service.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	st := cfg["state"].(map[string]any)[ScyllaStateKey].(map[string]any)
	cons := cfg["consensus"].(map[string]any)[Scylla].(map[string]any)
	st["username"], st["password"] = "cluster", secretPassword
	edit(st, cons)
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// requireRefused loads dir and checks that it is refused with an error
// naming every want, wrapping the sentinels, without the password.
func requireRefused(t *testing.T, dir string, sentinel error, want ...string) error {
	t.Helper()
	h, err := load(dir)
	if err == nil {
		h.Manager().Shutdown()
		t.Fatalf("the configuration was accepted; want an error naming %v", want)
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("the error does not name %s:\n%s", w, msg)
		}
	}
	if !errors.Is(err, ErrInvalidConfig) || (sentinel != nil && !errors.Is(err, sentinel)) {
		t.Errorf("the error does not wrap config.ErrInvalidConfig and %v: %v", sentinel, err)
	}
	if strings.Contains(msg, secretPassword) {
		t.Errorf("the error shows the password: %s", msg)
	}
	return err
}

func TestEveryBadScyllaStateValueIsRefusedByName(t *testing.T) {
	base := writeInit(t, "", "scylla")
	for _, c := range stateBad {
		t.Run(c.field, func(t *testing.T) {
			dir := copyDir(t, base)
			editSections(t, dir, func(st, _ map[string]any) { setPath(st, c.field, c.value) })
			requireRefused(t, dir, scyllastate.ErrInvalidConfig, c.want)
		})
	}
	for _, dcs := range ntsBad {
		t.Run("dc_replication", func(t *testing.T) {
			dir := copyDir(t, base)
			editSections(t, dir, func(st, _ map[string]any) {
				st["replication_strategy"] = scyllastate.NetworkTopologyStrategy
				st["dc_replication"] = dcs
			})
			requireRefused(t, dir, scyllastate.ErrInvalidConfig, "scyllastate.dc_replication")
		})
	}
	t.Run("username_without_password", func(t *testing.T) {
		dir := copyDir(t, base)
		editSections(t, dir, func(st, _ map[string]any) { delete(st, "password") })
		requireRefused(t, dir, scyllastate.ErrInvalidConfig, "scyllastate.password")
	})
	t.Run("password_without_username", func(t *testing.T) {
		dir := copyDir(t, base)
		editSections(t, dir, func(st, _ map[string]any) { delete(st, "username") })
		requireRefused(t, dir, scyllastate.ErrInvalidConfig, "scyllastate.username")
	})
	t.Run("password_written_as_a_number", func(t *testing.T) {
		dir := copyDir(t, base)
		editSections(t, dir, func(st, _ map[string]any) { st["password"] = 73519024 })
		err := requireRefused(t, dir, scyllastate.ErrInvalidConfig, "scyllastate.password")
		if strings.Contains(err.Error(), "73519024") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("section_not_an_object", func(t *testing.T) {
		dir := copyDir(t, base)
		path := filepath.Join(dir, "service.json")
		raw, _ := os.ReadFile(path)
		var cfg map[string]any
		_ = json.Unmarshal(raw, &cfg)
		cfg["state"].(map[string]any)[ScyllaStateKey] = []any{"127.0.0.1"}
		out, _ := json.Marshal(cfg)
		_ = os.WriteFile(path, out, 0o600)
		requireRefused(t, dir, scyllastate.ErrInvalidConfig, "scyllastate section must be a JSON object")
	})
}

func TestEveryBadConsensusScyllaValueIsRefusedByName(t *testing.T) {
	base := writeInit(t, "", "scylla")
	for _, c := range consensusBad {
		t.Run(c.field, func(t *testing.T) {
			dir := copyDir(t, base)
			editSections(t, dir, func(_, cons map[string]any) { setPath(cons, c.field, c.value) })
			requireRefused(t, dir, scyllacons.ErrInvalidConfig, c.want)
		})
	}
}

// TestSeveralErrorsAreListedAtOnce: a file with mistakes in both Scylla
// sections, some of a wrong JSON type, some out of range, and a bad
// environment override, is refused with every one of them listed.
func TestSeveralErrorsAreListedAtOnce(t *testing.T) {
	base := writeInit(t, "", "scylla")
	outOfRange := func(st, cons map[string]any) {
		st["port"] = 0
		st["keyspace"] = "bad-name"
		st["consistency"] = "MOSTLY"
		st["retry_policy"] = map[string]any{"num_retries": -1, "min_retry_delay": "0s", "max_retry_delay": "1s"}
		st["schema_mode"] = "drop"
		st["replication_strategy"] = "Nope"
		cons["poll_interval"] = "1ns"
		cons["ready_timeout"] = "0s"
	}
	cases := []struct {
		name string
		edit func(st, cons map[string]any)
		env  map[string]string
		want []string
	}{{
		name: "values out of range in both sections",
		edit: outOfRange,
		want: []string{"scyllastate.port", "scyllastate.keyspace", "scyllastate.consistency",
			"scyllastate.retry_policy.num_retries", "scyllastate.retry_policy.min_retry_delay",
			"scyllastate.schema_mode", "scyllastate.replication_strategy",
			"consensus.scylla.poll_interval", "consensus.scylla.ready_timeout", "9 configuration errors"},
	}, {
		name: "wrong JSON types in scyllastate, values out of range in consensus.scylla",
		edit: func(st, cons map[string]any) {
			st["port"] = "9042"
			st["hosts"] = "db1"
			st["tls"] = map[string]any{"enabled": "yes"}
			st["timeout"] = "soon"
			cons["poll_interval"] = "1ns"
			cons["trusted_peers"] = []any{"nope", "nope2"}
		},
		want: []string{"scyllastate.port", "scyllastate.hosts", "scyllastate.tls.enabled", "scyllastate.timeout",
			"consensus.scylla.trusted_peers", `"nope"`, `"nope2"`, "6 configuration errors"},
	}, {
		name: "a bad environment override with bad values in the file",
		edit: func(st, cons map[string]any) { cons["recover_slices"] = 0; st["page_size"] = 0 },
		env:  map[string]string{"CLUSTER_SCYLLASTATE_NUMCONNS": "0"},
		want: []string{"scyllastate.num_conns", "scyllastate.page_size", "consensus.scylla.recover_slices",
			"CLUSTER_* environment overrides", "3 configuration errors"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			dir := copyDir(t, base)
			editSections(t, dir, c.edit)
			err := requireRefused(t, dir, nil, c.want...)
			if !errors.Is(err, scyllastate.ErrInvalidConfig) && !errors.Is(err, scyllacons.ErrInvalidConfig) {
				t.Errorf("the sections' sentinels are lost: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

// copyDir copies the files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
