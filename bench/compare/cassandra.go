package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// database is the Cassandra (or Scylla) node the "ours" backend uses: the
// harness reads its process CPU time from /proc and its per-table request
// counts from its virtual tables, as an operator would; or, for a
// database on other machines (-db-metrics), both from its nodes' metrics.
type database struct {
	hosts   []string
	port    int
	pid     int          // 0 when the process is not on this machine
	nodes   *nodeMetrics // the nodes' metrics, when the database is not local
	session *gocql.Session
}

// openDatabase connects to hosts:port. With no metricsURLs the database is
// the local Cassandra node whose pid file is pidFile (scripts/cassandra.sh
// writes $CASSANDRA_RUN_DIR/$CASSANDRA_NAME/node1/pid); otherwise its cost
// is read from the ScyllaDB nodes' Prometheus endpoints at metricsURLs.
func openDatabase(ctx context.Context, hosts []string, port int, pidFile string, metricsURLs []string) (*database, error) {
	db := &database{hosts: hosts, port: port}
	if len(metricsURLs) > 0 {
		m, err := newNodeMetrics(ctx, metricsURLs)
		if err != nil {
			return nil, err
		}
		db.nodes = &m
		return db, db.connect()
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("reading the database pid file %s (set -cassandra-pid-file; for a database on other machines, -db-metrics): %w", pidFile, err)
	}
	if db.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("database pid file %s: %w", pidFile, err)
	}
	if _, err := proc.CPUTime(db.pid); err != nil {
		return nil, fmt.Errorf("database pid %d (from %s) is not readable: %w", db.pid, pidFile, err)
	}
	return db, db.connect()
}

// connect opens the harness's own session.
func (db *database) connect() error {
	c := gocql.NewCluster(db.hosts...)
	c.Port = db.port
	c.Timeout = 30 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.One
	var err error
	if db.session, err = c.CreateSession(); err != nil {
		return fmt.Errorf("connecting to the database at %v port %d: %w", db.hosts, db.port, err)
	}
	return nil
}

// String describes the database for the report.
func (db *database) String() string {
	where := fmt.Sprintf("%s:%d", strings.Join(db.hosts, ","), db.port)
	if db.nodes != nil {
		return fmt.Sprintf("%s (cost from the metrics of %d nodes: %s)", where, len(db.nodes.urls), strings.Join(db.nodes.urls, ", "))
	}
	return fmt.Sprintf("%s (pid %d)", where, db.pid)
}

func (db *database) close() {
	if db != nil && db.session != nil {
		db.session.Close()
	}
}

// cpu is the CPU time the database has used so far: its process's, or the
// sum of its nodes' reactor threads'.
func (db *database) cpu(ctx context.Context) (time.Duration, error) {
	if db.nodes != nil {
		s, err := db.nodes.sample(ctx)
		return s.CPU, err
	}
	return proc.CPUTime(db.pid)
}

// dbCounts are request counts of one keyspace, summed over its tables.
type dbCounts struct {
	Reads  int64 // local partition reads (system_views.local_read_latency)
	Scans  int64 // local range scans (system_views.local_scan_latency)
	Writes int64 // local writes (system_views.local_write_latency)
	// Requests are the requests clients sent (system_views.clients,
	// summed over every connection open at both ends of the
	// measurement, of any keyspace: only the backend under test uses the
	// database while it is measured). A batch is one request.
	Requests int64
}

func (a dbCounts) sub(b dbCounts) dbCounts {
	return dbCounts{Reads: a.Reads - b.Reads, Scans: a.Scans - b.Scans, Writes: a.Writes - b.Writes, Requests: a.Requests - b.Requests}
}

// counts reads the per-table request counters of keyspace ks and the
// requests of every client.
func (db *database) counts(ctx context.Context, ks string) (dbCounts, error) {
	if db.nodes != nil {
		s, err := db.nodes.sample(ctx)
		return s.Counts, err
	}
	var out dbCounts
	for _, t := range []struct {
		table string
		dst   *int64
	}{{"local_read_latency", &out.Reads}, {"local_scan_latency", &out.Scans}, {"local_write_latency", &out.Writes}} {
		it := db.session.Query("SELECT count FROM system_views."+t.table+" WHERE keyspace_name = ?", ks).WithContext(ctx).Iter()
		var n int64
		for it.Scan(&n) {
			*t.dst += n
		}
		if err := it.Close(); err != nil {
			return out, fmt.Errorf("reading system_views.%s for keyspace %s: %w", t.table, ks, err)
		}
	}
	it := db.session.Query("SELECT request_count FROM system_views.clients").WithContext(ctx).Iter()
	var n int64
	for it.Scan(&n) {
		out.Requests += n
	}
	if err := it.Close(); err != nil {
		return out, fmt.Errorf("reading system_views.clients: %w", err)
	}
	return out, nil
}

// dropKeyspace removes a keyspace the harness created.
func (db *database) dropKeyspace(ctx context.Context, ks string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := db.session.Query("DROP KEYSPACE IF EXISTS " + ks).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("dropping keyspace %s: %w", ks, err)
	}
	return nil
}

// dbProbe measures what a phase cost the database.
type dbProbe struct {
	db     *database
	ks     string
	cpu0   time.Duration
	count0 dbCounts
}

// probe starts a measurement (nil database: a no-op probe).
func (db *database) probe(ctx context.Context, ks string) (*dbProbe, error) {
	if db == nil {
		return nil, nil
	}
	p := &dbProbe{db: db, ks: ks}
	var err error
	if p.count0, err = db.counts(ctx, ks); err != nil {
		return nil, err
	}
	if p.cpu0, err = db.cpu(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// end returns the CPU used and the requests served since probe.
func (p *dbProbe) end(ctx context.Context) (time.Duration, dbCounts, error) {
	cpu, err := p.db.cpu(ctx)
	if err != nil {
		return 0, dbCounts{}, err
	}
	c, err := p.db.counts(ctx, p.ks)
	if err != nil {
		return 0, dbCounts{}, err
	}
	return cpu - p.cpu0, c.sub(p.count0), nil
}

// warmUp runs a mixed load on a throwaway keyspace for d: writes (single
// and batched), point and multi-key reads, range scans, at the benchmark's
// concurrency, so that the database's JIT compiler has reached its steady
// state before anything is measured, as in a database that has served for
// a while. The keyspace is dropped afterwards.
func (db *database) warmUp(ctx context.Context, d time.Duration, clients int) error {
	ks := fmt.Sprintf("bench_warmup_%d", time.Now().UnixNano())
	stmts := []string{
		"CREATE KEYSPACE " + ks + " WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}",
		"CREATE TABLE " + ks + ".rows (k blob PRIMARY KEY, v blob, m blob)",
		"CREATE TABLE " + ks + ".log (p int, t timeuuid, k blob, v blob, PRIMARY KEY ((p), t, k))",
	}
	for _, s := range stmts {
		if err := db.session.Query(s).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("warming the database up: %w", err)
		}
	}
	defer func() { _ = db.dropKeyspace(context.WithoutCancel(ctx), ks) }()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			val := make([]byte, 120)
			for i := 0; ctx.Err() == nil; i++ {
				key := []byte(fmt.Sprintf("k-%d-%d", c, i))
				b := db.session.Batch(gocql.UnloggedBatch).WithContext(ctx)
				for j := range 8 {
					b.Query("INSERT INTO "+ks+".log (p, t, k, v) VALUES (?, ?, ?, ?) USING TTL 600", c%4, gocql.TimeUUID(), append(key, byte(j)), val)
				}
				_ = b.Exec()
				_ = db.session.Query("INSERT INTO "+ks+".rows (k, v, m) VALUES (?, ?, ?)", key, val, val[:10]).WithContext(ctx).Exec()
				var v, m []byte
				_ = db.session.Query("SELECT v, m FROM "+ks+".rows WHERE k IN ?", [][]byte{key, append(key, 'x')}).WithContext(ctx).Iter().Scanner().Err()
				_ = db.session.Query("SELECT v, m FROM "+ks+".rows WHERE k = ?", key).WithContext(ctx).Scan(&v, &m)
				if i%50 == 0 {
					iter := db.session.Query("SELECT k, v FROM "+ks+".rows WHERE token(k) >= ? AND token(k) <= ?", int64(c)<<58, int64(c+1)<<58).WithContext(ctx).PageSize(1000).Iter()
					for iter.Scan(&v, &m) {
					}
					_ = iter.Close()
					_ = db.session.Query("SELECT t, k, v FROM "+ks+".log WHERE p = ? AND t > ?", c%4, gocql.MinTimeUUID(time.Now().Add(-time.Second))).WithContext(ctx).Iter().Close()
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		<-errs
	}
	return nil
}

// settle waits until the database compacts nothing and has no compaction
// pending, three checks a second apart in a row, or until timeout: an idle
// figure measured during the compactions of an earlier phase's writes
// would be theirs. It returns how long it waited and whether it settled.
func (db *database) settle(ctx context.Context, timeout time.Duration) (time.Duration, bool, error) {
	start := time.Now()
	quiet := 0
	for quiet < 3 {
		if time.Since(start) > timeout {
			return time.Since(start), false, nil
		}
		busy, err := db.compacting(ctx)
		if err != nil {
			return time.Since(start), false, err
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		select {
		case <-ctx.Done():
			return time.Since(start), false, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return time.Since(start), true, nil
}

// compacting tells whether the database runs or queues a compaction
// (system_views.sstable_tasks, and the CompactionExecutor pool of
// system_views.thread_pools).
func (db *database) compacting(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if db.nodes != nil {
		s, err := db.nodes.sample(ctx)
		return s.Compactions > 0, err
	}
	var kind string
	tasks := db.session.Query("SELECT kind FROM system_views.sstable_tasks").WithContext(ctx).Iter()
	n := 0
	for tasks.Scan(&kind) {
		n++
	}
	if err := tasks.Close(); err != nil {
		return false, fmt.Errorf("reading system_views.sstable_tasks: %w", err)
	}
	var active, pending int64
	err := db.session.Query("SELECT active_tasks, pending_tasks FROM system_views.thread_pools WHERE name = 'CompactionExecutor'").
		WithContext(ctx).Scan(&active, &pending)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return false, fmt.Errorf("reading system_views.thread_pools: %w", err)
	}
	return n > 0 || active > 0 || pending > 0, nil
}

// settleTimeout bounds the wait for compactions before a measurement.
const settleTimeout = 3 * time.Minute

// settleDB waits for the database's compactions to end before the
// measurement what, and says how long it took (nil database: nothing).
func (h *harness) settleDB(ctx context.Context, what string) error {
	if h.db == nil {
		return nil
	}
	waited, ok, err := h.db.settle(ctx, settleTimeout)
	switch {
	case err != nil:
		return err
	case !ok:
		logf("the database still compacts after %s: measuring %s anyway", waited.Round(time.Second), what)
	case waited > 5*time.Second:
		logf("waited %s for the database's compactions to end before %s", waited.Round(time.Second), what)
	}
	return nil
}
