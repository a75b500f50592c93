package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gocql/gocql"
)

// SchemaVersion is the version of the table layout this package writes.
// New refuses a keyspace recording another version.
const SchemaVersion = 1

const (
	pinsTable          = "pins"
	schemaVersionTable = "schema_version"
	schemaComponent    = "scyllastate"
)

// tables are the tables of the keyspace, all created and checked by New.
var tables = []string{pinsTable, schemaVersionTable, eventsTable, checkpointsTable}

// statements are the CQL statements of one keyspace. Identifiers are
// validated before they are spliced in.
type statements struct {
	insert, get, has, del, scan string

	insertEvent, events, getCheckpoint, saveCheckpoint string
}

func newStatements(ks string) statements {
	t := ks + "." + pinsTable
	cols := "pin, mode, user_allocations, ts_ns, expire_at_ns"
	return statements{
		insert: "INSERT INTO " + t + " (cid, " + cols + ") VALUES (?, ?, ?, ?, ?, ?)",
		get:    "SELECT " + cols + " FROM " + t + " WHERE cid = ?",
		has:    "SELECT cid FROM " + t + " WHERE cid = ?",
		del:    "DELETE FROM " + t + " WHERE cid = ?",
		scan:   "SELECT cid, " + cols + " FROM " + t + " WHERE token(cid) >= ? AND token(cid) <= ?",

		insertEvent: "INSERT INTO " + ks + "." + eventsTable + " (bucket, shard, event_id, cid, op) VALUES (?, ?, ?, ?, ?) USING TTL ?",
		events: "SELECT event_id, cid, op FROM " + ks + "." + eventsTable +
			" WHERE bucket = ? AND shard = ? AND event_id >= ? AND event_id <= ?",
		getCheckpoint:  "SELECT position FROM " + ks + "." + checkpointsTable + " WHERE reader = ?",
		saveCheckpoint: "INSERT INTO " + ks + "." + checkpointsTable + " (reader, position, updated_at) VALUES (?, ?, toTimestamp(now()))",
	}
}

// replicationMap renders the keyspace replication options.
func (cfg *Config) replicationMap() string {
	if cfg.ReplicationStrategy == NetworkTopologyStrategy {
		dcs := make([]string, 0, len(cfg.DCReplication))
		for dc := range cfg.DCReplication {
			dcs = append(dcs, dc)
		}
		sort.Strings(dcs)
		parts := []string{"'class': 'NetworkTopologyStrategy'"}
		for _, dc := range dcs {
			parts = append(parts, fmt.Sprintf("'%s': %d", dc, cfg.DCReplication[dc]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", cfg.ReplicationFactor)
}

func (s *ScyllaState) ddl() []string {
	ks := s.cfg.Keyspace
	return []string{
		"CREATE KEYSPACE IF NOT EXISTS " + ks + " WITH replication = " + s.cfg.replicationMap() + " AND durable_writes = true",
		"CREATE TABLE IF NOT EXISTS " + ks + "." + pinsTable + ` (
			cid blob PRIMARY KEY,
			pin blob,
			mode tinyint,
			user_allocations list<blob>,
			ts_ns bigint,
			expire_at_ns bigint
		)`,
		"CREATE TABLE IF NOT EXISTS " + ks + "." + schemaVersionTable + ` (
			component text PRIMARY KEY,
			version int,
			created_at timestamp
		)`,
		"CREATE TABLE IF NOT EXISTS " + ks + "." + eventsTable + ` (
			bucket bigint,
			shard tinyint,
			event_id timeuuid,
			cid blob,
			op tinyint,
			PRIMARY KEY ((bucket, shard), event_id, cid)
		) WITH CLUSTERING ORDER BY (event_id ASC, cid ASC)`,
		"CREATE TABLE IF NOT EXISTS " + ks + "." + checkpointsTable + ` (
			reader text PRIMARY KEY,
			position timestamp,
			updated_at timestamp
		)`,
	}
}

// setupSchema creates the schema (SchemaModeCreate) and checks it.
func (s *ScyllaState) setupSchema(ctx context.Context) error {
	for _, id := range append([]string{s.cfg.Keyspace}, tables...) {
		if err := ValidateIdentifier("keyspace", id); err != nil {
			return err
		}
	}
	if s.cfg.SchemaMode == SchemaModeCreate {
		for _, stmt := range s.ddl() {
			if err := s.session.Query(stmt).WithContext(ctx).Exec(); err != nil {
				return fmt.Errorf("%w: creating schema in keyspace %q: %w", ErrSchema, s.cfg.Keyspace, err)
			}
		}
		if err := s.session.AwaitSchemaAgreement(ctx); err != nil {
			return fmt.Errorf("%w: waiting for schema agreement: %w", ErrSchema, err)
		}
		// The first writer records the version; later ones find it.
		// A lightweight transaction at the configured serial consistency
		// keeps concurrent first starts from disagreeing.
		err := s.session.Query(
			"INSERT INTO "+s.cfg.Keyspace+"."+schemaVersionTable+
				" (component, version, created_at) VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS",
			schemaComponent, SchemaVersion,
		).WithContext(ctx).Exec()
		if err != nil {
			return fmt.Errorf("%w: recording schema version: %w", ErrSchema, err)
		}
	} else if err := s.checkTables(ctx); err != nil {
		return err
	}
	return s.checkVersion(ctx)
}

func (s *ScyllaState) checkTables(ctx context.Context) error {
	iter := s.session.Query(
		"SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", s.cfg.Keyspace,
	).WithContext(ctx).Iter()
	found := map[string]bool{}
	var name string
	for iter.Scan(&name) {
		found[name] = true
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("%w: reading the tables of keyspace %q: %w", ErrSchema, s.cfg.Keyspace, err)
	}
	for _, t := range tables {
		if !found[t] {
			return fmt.Errorf("%w: table %s.%s does not exist and schema_mode is %q: create it (see the README) or set schema_mode to %q",
				ErrSchema, s.cfg.Keyspace, t, SchemaModeCheck, SchemaModeCreate)
		}
	}
	return nil
}

func (s *ScyllaState) checkVersion(ctx context.Context) error {
	serial, err := parseSerialConsistency("serial_consistency", s.cfg.SerialConsistency)
	if err != nil {
		return err
	}
	// A serial read sees the row that the lightweight transaction wrote,
	// whatever the consistency configured for pins.
	var version int
	err = s.session.Query(
		"SELECT version FROM "+s.cfg.Keyspace+"."+schemaVersionTable+" WHERE component = ?", schemaComponent,
	).WithContext(ctx).Consistency(serial).Scan(&version)
	if errors.Is(err, gocql.ErrNotFound) {
		return fmt.Errorf("%w: keyspace %q records no schema version", ErrSchema, s.cfg.Keyspace)
	}
	if err != nil {
		return fmt.Errorf("%w: reading schema version: %w", ErrSchema, err)
	}
	if version != SchemaVersion {
		return fmt.Errorf("%w: keyspace %q has schema version %d, this build uses %d", ErrSchema, s.cfg.Keyspace, version, SchemaVersion)
	}
	return nil
}
