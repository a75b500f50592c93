package kubo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestBadSettingsNameTheVariableAndTheValue(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"KUBO_NAME": "a b"}, "KUBO_NAME must match [A-Za-z0-9][A-Za-z0-9._-]* (got 'a b')"},
		{map[string]string{"KUBO_DIR": "rel"}, "KUBO_DIR must be an absolute path"},
		{map[string]string{"KUBO_DIR": "//"}, "KUBO_DIR must not be /"},
		{map[string]string{"KUBO_STOP_TIMEOUT": "1s"}, "KUBO_STOP_TIMEOUT must be a number of seconds (got '1s')"},
		{map[string]string{"KUBO_API_PORT": "70000"}, "KUBO_API_PORT must be a port number (got '70000')"},
		{map[string]string{"KUBO_GATEWAY_PORT": "on"}, "KUBO_GATEWAY_PORT must be a port number (got 'on')"},
		{map[string]string{"KUBO_SWARM_PORT": "5001"}, "KUBO_API_PORT, KUBO_SWARM_PORT and KUBO_GATEWAY_PORT must differ"},
	} {
		_, err := Load(env(c.vars), "/repo", ForOther)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrConfig) {
			t.Errorf("%v: got %v, want %q (ErrConfig)", c.vars, err, c.want)
		}
	}
}

func TestCommandsWithoutPortsIgnoreBadPorts(t *testing.T) {
	in, err := Load(env(map[string]string{"KUBO_API_PORT": "x"}), "/repo", NoPorts)
	if err != nil {
		t.Fatal(err)
	}
	if in.Bin != "/repo/bin/ipfs" || in.ToolsDir != "/repo/tools/kubo" || in.Dir != "/tmp/ipfs-cluster-scylla-kubo/kubo0" {
		t.Errorf("defaults: bin %s tools %s dir %s", in.Bin, in.ToolsDir, in.Dir)
	}
}

func TestOtherCommandsReadThePortsRecordedByStartButStartDoesNot(t *testing.T) {
	parent := t.TempDir()
	vars := map[string]string{"KUBO_DIR": parent, "KUBO_NAME": "k", "KUBO_API_PORT": "7001", "KUBO_SWARM_PORT": "7002", "KUBO_GATEWAY_PORT": "7003"}
	in, err := Load(env(vars), "/repo", ForStart)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := in.record(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(in.Dir, "instance.conf"))
	if !strings.Contains(string(b), "GATEWAY_PORT=7003\n") {
		t.Errorf("instance.conf: %q", b)
	}
	only := map[string]string{"KUBO_DIR": parent, "KUBO_NAME": "k"}
	other, err := Load(env(only), "/repo", ForOther)
	if err != nil {
		t.Fatal(err)
	}
	if other.APIPort != 7001 || other.SwarmPort != 7002 || other.GatewayPort != 7003 {
		t.Errorf("recorded ports not read: %d %d %d", other.APIPort, other.SwarmPort, other.GatewayPort)
	}
	only["KUBO_API_PORT"] = "7101"
	other, _ = Load(env(only), "/repo", ForOther)
	if other.APIPort != 7101 {
		t.Errorf("the environment must win over instance.conf: %d", other.APIPort)
	}
	start, err := Load(env(map[string]string{"KUBO_DIR": parent, "KUBO_NAME": "k"}), "/repo", ForStart)
	if err != nil {
		t.Fatal(err)
	}
	if start.APIPort != 5001 || start.SwarmPort != 4001 || start.GatewayPort != 0 {
		t.Errorf("start read instance.conf: %d %d %d", start.APIPort, start.SwarmPort, start.GatewayPort)
	}
}
