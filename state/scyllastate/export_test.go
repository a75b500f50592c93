package scyllastate

import (
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// WithClusterHook lets tests observe or adjust the driver configuration
// (for example to add query or connect observers).
func WithClusterHook(f func(*gocql.ClusterConfig)) Option {
	return func(o *options) { o.clusterHook = f }
}

// ApplyCQLFile runs an embedded schema file in a keyspace, as
// `cqlsh -k <keyspace> -f <file>` does.
func ApplyCQLFile(s *gocql.Session, ks, file string) error {
	stmts, err := statementsOf(file)
	if err != nil {
		return err
	}
	return applyStatements(s, ks, stmts)
}

// ApplyCQLText runs the statements of a .cql text in a keyspace.
func ApplyCQLText(s *gocql.Session, ks, name string, raw []byte) error {
	stmts, err := splitStatements(name, raw)
	if err != nil {
		return err
	}
	return applyStatements(s, ks, stmts)
}

func applyStatements(s *gocql.Session, ks string, stmts []string) error {
	for _, st := range stmts {
		q, err := qualify(st, ks)
		if err != nil {
			return err
		}
		if err := s.Query(q).Exec(); err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
	}
	return nil
}

// V1Row returns the schema v1 columns of a pin: cid, pin, mode,
// user_allocations, ts_ns, expire_at_ns.
func V1Row(p api.Pin) []any {
	pb, _ := p.ProtoMarshal()
	var ua [][]byte
	for _, a := range p.UserAllocations {
		ua = append(ua, []byte(a))
	}
	return []any{p.Cid.Bytes(), pb, int8(p.Mode), ua, unixNano(p.Timestamp), unixNano(p.ExpireAt)}
}

// LegacyEventPartition returns the feed partition of an event written at
// t for a CID by a build of schema versions 1 to 3 (4 partitions).
func LegacyEventPartition(t time.Time, c api.Cid) Partition {
	return Partition{Bucket: bucketOf(t), Shard: partitionOf(c.Bytes(), legacyEventPartitions)}
}

// LayoutLead is how far ahead a change of the feed layout applies.
const LayoutLead = layoutLead
