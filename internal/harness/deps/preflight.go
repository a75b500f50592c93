package deps

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// The files of Debian's sharness that the suite sources and runs.
const (
	sharnessLib       = "/usr/share/sharness/sharness.sh"
	sharnessAggregate = "/usr/share/doc/sharness/contrib/aggregate-results.sh"
)

// portTimeout bounds the probe of one database port.
const portTimeout = 2 * time.Second

// defaultMinFreeMB is the free space the tests need [DEPS_MIN_FREE_MB].
const defaultMinFreeMB = 2048

// database is a test instance of scripts/cassandra.sh and its address.
type database struct{ name, ip string }

// databases are the instances `make what` starts: main, and for test the
// secure one unless WITH_SECURE=0.
func (d *Deps) databases(what string) []database {
	dbs := []database{{"main", "127.0.0.1"}}
	if what == "test" && d.Getenv("WITH_SECURE") != "0" {
		dbs = append(dbs, database{"secure", "127.0.0.2"})
	}
	return dbs
}

// Preflight checks, before the long part of `make test` or `make demo`
// (what), everything CheckAll does, then sharness, the database ports
// (free, or served by the test instance that would use them), the disk
// space, and that Cassandra's jars are cached (else it fetches them now).
func (d *Deps) Preflight(ctx context.Context, what string) error {
	if what != "test" && what != "demo" {
		return fmt.Errorf("preflight: unknown target '%s' (test or demo)", what)
	}
	if err := d.CheckAll(ctx); err != nil {
		return err
	}
	for _, f := range []string{sharnessLib, sharnessAggregate} {
		if _, err := os.Stat(d.Sysroot + f); err != nil {
			return missing("Debian's sharness is incomplete (%s, contrib/aggregate-results.sh): apt-get install --reinstall sharness", sharnessLib)
		}
	}
	for _, db := range d.databases(what) {
		if err := d.portsFreeOrOurs(ctx, db); err != nil {
			return err
		}
	}
	if err := d.checkFreeSpace(); err != nil {
		return err
	}
	d.Logf("Cassandra's jars: cached, or fetched now from Maven Central (about 100 MB, once)")
	if err := d.FetchJars(ctx); err != nil {
		return fmt.Errorf("Cassandra's jars could not be fetched from Maven Central (%w): check the network or a Maven proxy (~/.m2/settings.xml)", err)
	}
	d.Logf("ok: ready for make %s", what)
	return nil
}

// portsFreeOrOurs checks that the CQL and storage ports of db are free, or
// served by db itself (which the tests reuse).
func (d *Deps) portsFreeOrOurs(ctx context.Context, db database) error {
	env := map[string]string{"CASSANDRA_NAME": db.name, "CASSANDRA_HOSTS": db.ip}
	in, err := cassandra.Load(func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return d.Getenv(k)
	}, cassandra.ForOther)
	if err != nil {
		return err
	}
	ports := fmt.Sprintf("%s:%d and :%d", db.ip, in.Port, in.StoragePort)
	if _, running := in.Status(ctx); running {
		d.Logf("ports %s: ours (the test database '%s' runs; the tests reuse it)", ports, db.name)
		return nil
	}
	for _, port := range []int{in.Port, in.StoragePort} {
		if proc.TCPOpen(ctx, db.ip, port, portTimeout) {
			return &checkError{fmt.Sprintf("%s:%d is in use, but not by the test database '%s' of scripts/cassandra.sh: "+
				"stop what listens there (ss -ltnp 'sport = :%d') before make test", db.ip, port, db.name, port), ErrMissing}
		}
	}
	d.Logf("ports %s: free (for the test database '%s')", ports, db.name)
	return nil
}

// checkFreeSpace checks that TMPDIR [/tmp] has DEPS_MIN_FREE_MB free.
func (d *Deps) checkFreeSpace() error {
	minMB := defaultMinFreeMB
	if v := d.Getenv("DEPS_MIN_FREE_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("DEPS_MIN_FREE_MB must be a number of MB (got '%s')", v)
		}
		minMB = n
	}
	dir := d.Getenv("TMPDIR")
	if dir == "" {
		dir = "/tmp"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free space of %s: %w", dir, err)
	}
	free := int64(st.Bavail) * st.Bsize >> 20
	if free < int64(minMB) {
		return missing("%s has %d MB free; the tests need about %d MB (Cassandra data, kubo repos, logs)", dir, free, minMB)
	}
	return nil
}
