package cassandra

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, vars map[string]string) (*Instance, error) {
	t.Helper()
	base := map[string]string{"CASSANDRA_RUN_DIR": t.TempDir(), "CASSANDRA_CACHE_DIR": t.TempDir()}
	for k, v := range vars {
		base[k] = v
	}
	return Load(func(k string) string { return base[k] }, ForStart)
}

func TestThreeNodesGetCcmsBalancedTokens(t *testing.T) {
	in, err := load(t, map[string]string{"CASSANDRA_HOSTS": "127.0.0.1,127.0.0.2,127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-9223372036854775808", "-3074457345618258603", "3074457345618258602"}
	for i, w := range want {
		if got := in.nodes[i].token.String(); got != w {
			t.Errorf("node%d token %s, want %s", i+1, got, w)
		}
	}
}

func TestEachDataCenterHasItsOwnRingOffsetBy100(t *testing.T) {
	in, err := load(t, map[string]string{"CASSANDRA_HOSTS": "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4", "CASSANDRA_DCS": "dc1,dc1:r2,dc2,dc2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-9223372036854775808", "0", "-9223372036854775708", "100"}
	for i, w := range want {
		if got := in.nodes[i].token.String(); got != w {
			t.Errorf("node%d token %s, want %s", i+1, got, w)
		}
	}
	if in.nodes[1].rack != "r2" || in.nodes[0].rack != "rack1" || strings.Join(in.DataCenters(), ",") != "dc1,dc1,dc2,dc2" {
		t.Errorf("racks %s %s, data centers %v", in.nodes[0].rack, in.nodes[1].rack, in.DataCenters())
	}
}

func TestBadSettingsNameTheVariableAndTheValue(t *testing.T) {
	for _, c := range []struct{ k, v, want string }{
		{"CASSANDRA_HOSTS", "127.0.0.1,localhost", "CASSANDRA_HOSTS: 'localhost' is not an IPv4 address"},
		{"CASSANDRA_NAME", "-x", "CASSANDRA_NAME must match"},
		{"CASSANDRA_HEAP", "512", "CASSANDRA_HEAP must look like 512M or 1G (got '512')"},
		{"CASSANDRA_AUTH", "yes", "CASSANDRA_AUTH must be 0 or 1 (got 'yes')"},
		{"CASSANDRA_PORT", "70000", "CASSANDRA_PORT must be a port number (got '70000')"},
		{"CASSANDRA_DCS", "dc1,dc2", "CASSANDRA_DCS has 2 entries for 1 host(s)"},
		{"CASSANDRA_START_TIMEOUT", "3m", "CASSANDRA_START_TIMEOUT must be a number of seconds (got '3m')"},
	} {
		_, err := load(t, map[string]string{c.k: c.v})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: error %v, want %q", c.k, c.v, err, c.want)
		}
	}
}

func TestOtherCommandsReadTheSettingsRecordedByStart(t *testing.T) {
	run := t.TempDir()
	in, err := load(t, map[string]string{"CASSANDRA_RUN_DIR": run, "CASSANDRA_HOSTS": "127.0.0.9,127.0.0.10", "CASSANDRA_AUTH": "1", "CASSANDRA_TLS": "1", "CASSANDRA_DCS": "a,b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := in.record(); err != nil {
		t.Fatal(err)
	}
	again, err := Load(func(k string) string {
		return map[string]string{"CASSANDRA_RUN_DIR": run, "CASSANDRA_ENV_PREFIX": "X"}[k]
	}, ForOther)
	if err != nil {
		t.Fatal(err)
	}
	env, err := again.Env()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, v := range env {
		lines = append(lines, ExportLine(v.Name, v.Value))
	}
	got := strings.Join(lines, "\n")
	tls := filepath.Join(run, "main", "tls")
	want := "export X_HOSTS=127.0.0.9,127.0.0.10\nexport X_PORT=9042\nexport X_DCS=a,b\nexport X_USERNAME=cassandra\nexport X_PASSWORD=cassandra\n" +
		"export X_TLS_CA=" + tls + "/ca.pem\nexport X_TLS_CERT=" + tls + "/client.pem\nexport X_TLS_KEY=" + tls + "/client-key.pem"
	if got != want {
		t.Errorf("env:\n%s\nwant:\n%s", got, want)
	}
	if ExportLine("A", "it's here") != `export A='it'\''s here'` {
		t.Errorf("quoting: %s", ExportLine("A", "it's here"))
	}
}

func TestAuthOnSeveralNodesReplicatesTheRolesToThree(t *testing.T) {
	in, err := load(t, map[string]string{"CASSANDRA_HOSTS": "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4", "CASSANDRA_AUTH": "1", "CASSANDRA_JVM_OPTS": " -Dx=1  -Dy=2 "})
	if err != nil {
		t.Fatal(err)
	}
	args := string(in.jvmArgs(2))
	for _, w := range []string{"\n-Dcassandra.system_auth.default_rf=3\n-Dx=1\n-Dy=2\n-cp\n", "\"-Dcassandra.storagedir=" + in.nodeDir(2) + "/storage\"", "-Xmx512M\n"} {
		if !strings.Contains(args, w) {
			t.Errorf("jvm.args lacks %q:\n%s", w, args)
		}
	}
	if strings.Contains(args, "\n#") {
		t.Errorf("jvm.args keeps comments:\n%s", args)
	}
}
