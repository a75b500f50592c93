//go:build integration && faults

package scyllacheck_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqltest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service/scyllacheck"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// threeNodeHosts are the nodes of the instance this test starts (make
// test-faults; the other fault tests use 127.0.0.21-23 and .31-34).
var threeNodeHosts = []string{"127.0.0.6", "127.0.0.7", "127.0.0.8"}

// check3 is the instance "check3" of the test harness
// (internal/harness/cassandra), with the CASSANDRA_* settings of the
// environment (e.g. CASSANDRA_HEAP) under its own name and hosts.
func check3(t *testing.T) *cassandra.Instance {
	t.Helper()
	in, err := cassandra.Load(cassandra.EnvWith(map[string]string{
		"CASSANDRA_NAME": "check3", "CASSANDRA_HOSTS": strings.Join(threeNodeHosts, ","),
	}), cassandra.ForStart)
	if err != nil {
		t.Fatalf("database settings: %v", err)
	}
	in.Logf = func(format string, args ...any) { t.Logf("cassandra[check3]: %s", fmt.Sprintf(format, args...)) }
	return in
}

// dbDo runs one operation on the database, bounded; it fails the test if
// the operation fails.
func dbDo(t *testing.T, what string, op func(context.Context) error) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := op(ctx); err != nil {
		t.Fatalf("database %s: %v", what, err)
	}
	t.Logf("database %s: %s", what, time.Since(start).Round(100*time.Millisecond))
}

func threeNodeConfig(t *testing.T, hosts []string, rf int) *scyllastate.Config {
	cfg := &scyllastate.Config{Hosts: hosts, Keyspace: cqltest.Keyspace(t), ReplicationFactor: rf, Timeout: 5 * time.Second}
	_ = cfg.Default()
	t.Cleanup(func() { cqltest.DropKeyspace(t, cfg) })
	return cfg
}

// On a three-node cluster: replication factor 1 and a single contact
// point are warnings; a node down is a failure of that host while reads
// at LOCAL_QUORUM of a keyspace of factor 3 still answer.
func TestFaultCheckThreeNodes(t *testing.T) {
	db := check3(t)
	t.Cleanup(func() { dbDo(t, "clean", db.Clean) })
	dbDo(t, "start", db.Start)

	t.Run("replication factor 1", func(t *testing.T) {
		cfg := threeNodeConfig(t, threeNodeHosts[:1], 1)
		_ = cqltest.New(t, cfg)
		r := run(t, cfg, "")
		if r.Verdict != scyllacheck.Warn || r.ExitCode(false) != scyllacheck.ExitOK || r.ExitCode(true) != scyllacheck.ExitWarn {
			t.Fatalf("verdict %s (exit %d, strict %d), want WARN (0, 2)", r.Verdict, r.ExitCode(false), r.ExitCode(true))
		}
		if f := only(t, r, scyllacheck.OK, "nodes"); !strings.Contains(f.Message, "3 nodes in 1 data center") {
			t.Errorf("nodes: %q", f.Message)
		}
		if f := only(t, r, scyllacheck.Warn, "replication_factor", cfg.Keyspace); !strings.Contains(f.Hint, "'replication_factor': 3") {
			t.Errorf("replication_factor hint %q", f.Hint)
		}
		only(t, r, scyllacheck.Warn, "contact_points")
	})

	t.Run("a node down", func(t *testing.T) {
		cfg := threeNodeConfig(t, threeNodeHosts, 3)
		_ = cqltest.New(t, cfg)
		if r := run(t, cfg, ""); r.Verdict != scyllacheck.OK {
			t.Fatalf("before the node stops: verdict %s, want OK", r.Verdict)
		}
		dbDo(t, "stop-node 3", func(ctx context.Context) error { return db.StopNode(ctx, 3) })
		cfg.ConnectTimeout = 2 * time.Second
		r := run(t, cfg, "")
		only(t, r, scyllacheck.Fail, "reach", "127.0.0.8")
		only(t, r, scyllacheck.OK, "latency")
		if f := only(t, r, scyllacheck.Warn, "consistency", "LOCAL_QUORUM"); !strings.Contains(f.Message, "2 of the 2 replicas") || !strings.Contains(f.Message, "1 node down") {
			t.Errorf("consistency: %q", f.Message)
		}
		if f := only(t, r, scyllacheck.OK, "nodes"); !strings.Contains(f.Message, "127.0.0.8") {
			t.Errorf("the other nodes still list the stopped one: %q", f.Message)
		}
		if r.Verdict != scyllacheck.Fail || r.Failures != 1 {
			t.Errorf("verdict %s with %d failures, want FAIL with 1", r.Verdict, r.Failures)
		}
	})
}
