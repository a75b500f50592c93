package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cluster"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
)

// secureDB is the test script's own Cassandra with password authentication
// and mutual TLS (sharness/lib/secure-db.sh): $SECURE_DB_NAME
// [sharness-secure] on $SECURE_DB_ADDR [127.0.0.5], its variables named
// SECDB_*. Its commands run with HOME=$TEST_ORIG_HOME (the cache of
// cassandra.sh is there).
func (e clusterEnv) secureDB() (dbInstance, error) {
	if err := os.Setenv("HOME", e.home()); err != nil {
		return dbInstance{}, err
	}
	return dbInstance{e.or("SECURE_DB_NAME", "sharness-secure"), e.or("SECURE_DB_ADDR", "127.0.0.5"), "SECDB",
		map[string]string{"CASSANDRA_AUTH": "1", "CASSANDRA_TLS": "1"}}, nil
}

// stopDatabase stops the test database name (its settings as recorded by
// its start).
func (e clusterEnv) stopDatabase(ctx context.Context, name string) error {
	in, err := dbInstance{name: name, prefix: "SECDB"}.load(cassandra.ForOther)
	if err != nil {
		return err
	}
	return in.Stop(ctx)
}

// secureDBVars starts the secure database unless it runs (then the
// session stops it at the end) and returns its variables.
func (e clusterEnv) secureDBVars(ctx context.Context) ([]cassandra.EnvVar, error) {
	d, err := e.secureDB()
	if err != nil {
		return nil, err
	}
	s, err := e.session()
	if err != nil {
		return nil, err
	}
	started, err := d.up(ctx)
	if started != nil {
		if rerr := s.AddDatabase(d.name); rerr != nil {
			return nil, rerr
		}
	}
	if err != nil {
		return nil, err
	}
	in, err := d.load(cassandra.ForOther)
	if err != nil {
		return nil, err
	}
	return in.Env()
}

// clusterSecureDB are the commands on the secure database.
var clusterSecureDB = map[string]clusterCommand{
	"secure-db-start": {0, "", func(ctx context.Context, e clusterEnv, _ []string) (int, error) {
		vars, err := e.secureDBVars(ctx)
		for _, v := range vars {
			fmt.Println(cassandra.ExportLine(v.Name, v.Value))
		}
		return ok(err)
	}},
	"secure-db-config": {2, "DIR KEYSPACE", func(_ context.Context, e clusterEnv, args []string) (int, error) {
		d, err := e.secureDB()
		if err != nil {
			return ok(err)
		}
		in, err := d.load(cassandra.ForOther)
		if err != nil {
			return ok(err)
		}
		vars, err := in.Env()
		if err != nil {
			return ok(err)
		}
		v := map[string]string{}
		for _, ev := range vars {
			v[strings.TrimPrefix(ev.Name, d.prefix+"_")] = ev.Value
		}
		p, err := e.peer(args[0])
		if err != nil {
			return ok(err)
		}
		return ok(p.Edit(func(c map[string]any) {
			cluster.UseScylla(c, args[1], in.Hosts, in.Port)
			jsonconf.Set(c, "state.scyllastate.username", v["USERNAME"])
			jsonconf.Set(c, "state.scyllastate.password", v["PASSWORD"])
			jsonconf.Set(c, "state.scyllastate.tls", map[string]any{"enabled": true,
				"ca_file": v["TLS_CA"], "cert_file": v["TLS_CERT"], "key_file": v["TLS_KEY"]})
		}))
	}},
}
