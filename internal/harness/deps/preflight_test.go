package deps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// freePorts points the database ports of the machine (CASSANDRA_PORT,
// CASSANDRA_STORAGE_PORT) at free ones and returns them.
func (m *fakeMachine) freePorts(t *testing.T) (cql, storage int) {
	t.Helper()
	var err error
	if cql, err = proc.FreePort(); err != nil {
		t.Fatal(err)
	}
	if storage, err = proc.FreePort(); err != nil {
		t.Fatal(err)
	}
	m.env["CASSANDRA_PORT"], m.env["CASSANDRA_STORAGE_PORT"] = strconv.Itoa(cql), strconv.Itoa(storage)
	return cql, storage
}

func TestPreflightPassesWhenThePortsAreFree(t *testing.T) {
	m := newFakeMachine(t)
	cql, storage := m.freePorts(t)
	if err := m.Preflight(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	m.wantLog(t, "deps.sh: ok: Debian packages, Go go1.99.0 (go.mod: 1.26), OpenJDK 17 ("+m.env["CASSANDRA_JAVA"]+")\n"+
		fmt.Sprintf("deps.sh: ports 127.0.0.1:%d and :%d: free (for the test database 'main')\n", cql, storage)+
		"deps.sh: Cassandra's jars: cached, or fetched now from Maven Central (about 100 MB, once)\n"+
		"deps.sh: ok: ready for make demo\n")
	if m.fetched != 1 {
		t.Fatalf("the jars were fetched %d times, want once", m.fetched)
	}
}

func TestPreflightForTestChecksTheSecureDatabaseUnlessWithSecure0(t *testing.T) {
	m := newFakeMachine(t)
	m.freePorts(t)
	if err := m.Preflight(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.log.String(), "ports 127.0.0.2:") {
		t.Fatalf("preflight test did not check the secure database's ports: %q", m.log.String())
	}
	m.log.Reset()
	m.env["WITH_SECURE"] = "0"
	if err := m.Preflight(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.log.String(), "127.0.0.2") {
		t.Fatalf("WITH_SECURE=0, yet the secure database's ports were checked: %q", m.log.String())
	}
}

func TestPreflightFailsFastWhenADatabasePortIsTakenBySomethingElse(t *testing.T) {
	m := newFakeMachine(t)
	_, storage := m.freePorts(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", storage))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wantErr(t, m.Preflight(context.Background(), "demo"), ErrMissing, fmt.Sprintf(
		"127.0.0.1:%d is in use, but not by the test database 'main' of scripts/cassandra.sh: "+
			"stop what listens there (ss -ltnp 'sport = :%d') before make test", storage, storage))
	if m.fetched != 0 {
		t.Fatal("the jars were fetched after a failed check")
	}
}

func TestPreflightRefusesATargetOtherThanTestOrDemo(t *testing.T) {
	m := newFakeMachine(t)
	wantErr(t, m.Preflight(context.Background(), "tset"), nil, "preflight: unknown target 'tset' (test or demo)")
}

func TestPreflightRefusesAnIncompleteSharness(t *testing.T) {
	m := newFakeMachine(t)
	m.remove(t, "root"+sharnessAggregate)
	wantErr(t, m.Preflight(context.Background(), "demo"), ErrMissing,
		"Debian's sharness is incomplete (/usr/share/sharness/sharness.sh, contrib/aggregate-results.sh): apt-get install --reinstall sharness")
}

func TestPreflightRefusesTooLittleDiskSpace(t *testing.T) {
	m := newFakeMachine(t)
	m.freePorts(t)
	m.env["DEPS_MIN_FREE_MB"] = "999999999"
	err := m.Preflight(context.Background(), "demo")
	if err == nil || !errors.Is(err, ErrMissing) ||
		!strings.HasPrefix(err.Error(), m.env["TMPDIR"]+" has ") ||
		!strings.HasSuffix(err.Error(), " MB free; the tests need about 999999999 MB (Cassandra data, kubo repos, logs)") {
		t.Fatalf("Preflight: %v", err)
	}
	m.env["DEPS_MIN_FREE_MB"] = "lots"
	wantErr(t, m.Preflight(context.Background(), "demo"), nil, "DEPS_MIN_FREE_MB must be a number of MB (got 'lots')")
}

func TestPreflightSaysWhenTheJarsCannotBeFetched(t *testing.T) {
	m := newFakeMachine(t)
	m.freePorts(t)
	m.FetchJars = func(context.Context) error { return errors.New("mvn: exit status 1") }
	wantErr(t, m.Preflight(context.Background(), "demo"), nil,
		"Cassandra's jars could not be fetched from Maven Central (mvn: exit status 1): check the network or a Maven proxy (~/.m2/settings.xml)")
}
