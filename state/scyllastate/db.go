package scyllastate

import "github.com/gocql/gocql"

// db is what every part of a store shares: the driver session, the
// statements of the keyspace, the settings, the consistency levels, and
// the health and metrics that database calls report to. The parts of a
// store (its writer, readers, feed layout) are built from it; it knows
// none of them.
type db struct {
	cfg       *Config
	session   *gocql.Session
	metrics   *metrics
	stmts     statements
	cons      gocql.Consistency // pins
	meta      gocql.Consistency // the keyspace's own records (metaConsistency)
	eventCons gocql.Consistency // change-feed events
	health    *health
}

// metaConsistency is the consistency of the keyspace's own records (the
// schema version, the feed layout, the feed members' copy): LOCAL_QUORUM,
// or the configured consistency when that is weaker (ONE, LOCAL_ONE or
// ANY, which reads at ONE), whatever level the pins use.
func metaConsistency(c gocql.Consistency) gocql.Consistency {
	switch c {
	case gocql.Any, gocql.One:
		return gocql.One
	case gocql.LocalOne:
		return gocql.LocalOne
	}
	return gocql.LocalQuorum
}
