package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Setting up the schema of a keyspace: creating it, upgrading it with the
// embedded files (see schema.go) or checking it, as Config.SchemaMode
// says.

// setupSchema creates or upgrades the schema (SchemaModeCreate) or checks
// it (SchemaModeCheck), then checks that this build can use it. A new
// keyspace gets its feed layout through layout. With existing, a keyspace
// without the schema is an error, never created.
func (d *db) setupSchema(ctx context.Context, layout *layoutCache, existing bool) error {
	ks := d.cfg.Keyspace
	if err := ValidateIdentifier("keyspace", ks); err != nil {
		return err
	}
	create := d.cfg.SchemaMode == SchemaModeCreate
	if existing {
		found, err := d.keyspaceExists(ctx)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: keyspace %q does not exist: check scyllastate.keyspace (this command reads or removes pins and never creates a keyspace)", ErrNoPinset, ks)
		}
	}
	if create && !existing {
		stmt := "CREATE KEYSPACE IF NOT EXISTS " + ks + " WITH replication = " + d.cfg.replicationMap() + " AND durable_writes = true"
		if err := d.session.Query(stmt).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("%w: creating keyspace %q: %w", ErrSchema, ks, err)
		}
	}
	v, err := d.readVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case v.version == 0 && existing:
		return fmt.Errorf("%w: keyspace %q has no scyllastate pinset: check scyllastate.keyspace (this command reads or removes pins and never creates the schema)", ErrNoPinset, ks)
	case v.version == 0 && !create:
		return fmt.Errorf("%w: keyspace %q has no scyllastate schema and schema_mode is %q: apply %s/schema.cql with cqlsh (see docs/operations.md) or set schema_mode to %q",
			ErrSchema, ks, SchemaModeCheck, schemaDir, SchemaModeCreate)
	case v.version == 0:
		logger.Infof("creating the schema (version %d) in keyspace %q", SchemaVersion, ks)
		if err := d.applyFile(ctx, schemaDir+"/schema.cql"); err != nil {
			return err
		}
		// The feed layout of the new keyspace, from the setting (see
		// layout.go for two peers creating it at once).
		if err := layout.insertLayout(ctx, 0, d.cfg.EventPartitions); err != nil {
			return fmt.Errorf("%w: %w", ErrSchema, err)
		}
	case v.version < SchemaVersion && !create:
		return fmt.Errorf("%w: keyspace %q has schema version %d and this build needs version %d: apply %s with cqlsh (see docs/operations.md) or set schema_mode to %q",
			ErrSchema, ks, v.version, SchemaVersion, strings.Join(updateFiles(v.version), ", "), SchemaModeCreate)
	case v.version < SchemaVersion:
		if err := d.upgrade(ctx, v.version); err != nil {
			return err
		}
	}
	if v, err = d.readVersion(ctx); err != nil {
		return err
	}
	if err := checkCompatible(ks, v); err != nil {
		return err
	}
	if err := d.checkTables(ctx); err != nil {
		return err
	}
	return d.copyLegacyMembers(ctx)
}

// upgrade applies the versioned updates after version from, in order.
func (d *db) upgrade(ctx context.Context, from int) error {
	for _, f := range updateFiles(from) {
		logger.Infof("upgrading the schema of keyspace %q: applying %s", d.cfg.Keyspace, f)
		if err := d.applyFile(ctx, f); err != nil {
			return err
		}
	}
	logger.Infof("schema of keyspace %q upgraded from version %d to %d", d.cfg.Keyspace, from, SchemaVersion)
	return nil
}

// applyFile runs the statements of an embedded .cql file in the keyspace.
// Adding a column that exists already is skipped, so that a file can be
// applied again after an interruption or by two peers at once.
func (d *db) applyFile(ctx context.Context, file string) error {
	stmts, err := statementsOf(file)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSchema, err)
	}
	for _, stmt := range stmts {
		if m := addColumnRe.FindStringSubmatch(stmt); m != nil {
			exists, err := d.columnExists(ctx, m[1], m[2])
			if err != nil {
				return err
			}
			if exists {
				continue
			}
		}
		q, err := qualify(stmt, d.cfg.Keyspace)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSchema, file, err)
		}
		if err := d.session.Query(q).WithContext(ctx).Exec(); err != nil {
			if m := addColumnRe.FindStringSubmatch(stmt); m != nil {
				if exists, cerr := d.columnExists(ctx, m[1], m[2]); cerr == nil && exists {
					continue // added meanwhile by another peer
				}
			}
			return fmt.Errorf("%w: applying %s to keyspace %q: %q: %w", ErrSchema, file, d.cfg.Keyspace, stmt, err)
		}
		if err := d.session.AwaitSchemaAgreement(ctx); err != nil {
			return fmt.Errorf("%w: waiting for schema agreement: %w", ErrSchema, err)
		}
	}
	return nil
}

// tableNames lists the tables of the keyspace.
func (d *db) tableNames(ctx context.Context) (map[string]bool, error) {
	iter := d.session.Query(
		"SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", d.cfg.Keyspace,
	).WithContext(ctx).Consistency(gocql.LocalOne).Iter()
	found := map[string]bool{}
	var name string
	for iter.Scan(&name) {
		found[name] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("%w: reading the tables of keyspace %q: %w", ErrSchema, d.cfg.Keyspace, err)
	}
	return found, nil
}

// keyspaceExists tells whether the configured keyspace exists.
func (d *db) keyspaceExists(ctx context.Context) (bool, error) {
	var name string
	err := d.session.Query("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", d.cfg.Keyspace).
		WithContext(ctx).Consistency(gocql.LocalOne).Scan(&name)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: reading whether keyspace %q exists: %w", ErrSchema, d.cfg.Keyspace, err)
	}
	return true, nil
}

// columnExists tells whether a table of the keyspace has a column.
func (d *db) columnExists(ctx context.Context, table, column string) (bool, error) {
	var name string
	err := d.session.Query(
		"SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
		d.cfg.Keyspace, table, column,
	).WithContext(ctx).Consistency(gocql.LocalOne).Scan(&name)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: reading the columns of %s.%s: %w", ErrSchema, d.cfg.Keyspace, table, err)
	}
	return true, nil
}

// checkTables checks that every table of the schema exists.
func (d *db) checkTables(ctx context.Context) error {
	found, err := d.tableNames(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if !found[t] {
			return fmt.Errorf("%w: table %s.%s does not exist: apply %s/schema.cql with cqlsh (see docs/operations.md) or set schema_mode to %q",
				ErrSchema, d.cfg.Keyspace, t, schemaDir, SchemaModeCreate)
		}
	}
	return nil
}

// readVersion reads the recorded schema version: the highest row of
// schema_history (version 4 on), or else the row of schema_version that
// versions 1 to 3 wrote. Both are plain reads (at metaConsistency):
// versions are written without lightweight transactions, each by one
// idempotent statement.
func (d *db) readVersion(ctx context.Context) (storedVersion, error) {
	// A table another peer has just created can be listed before the
	// node serves it ("table ... does not exist"): read again shortly.
	for attempt := 1; ; attempt++ {
		v, err := d.readVersionOnce(ctx)
		var re gocql.RequestError
		if err == nil || attempt == 10 || !errors.As(err, &re) || re.Code() != gocql.ErrCodeInvalid {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readVersionOnce reads the recorded schema version once (see
// readVersion).
func (d *db) readVersionOnce(ctx context.Context) (storedVersion, error) {
	existing, err := d.tableNames(ctx)
	if err != nil {
		return storedVersion{}, err
	}
	row := map[string]any{}
	err = gocql.ErrNotFound
	if existing[schemaHistoryTable] {
		err = d.session.Query(d.stmts.version, schemaComponent).WithContext(ctx).Consistency(d.meta).MapScan(row)
	}
	if errors.Is(err, gocql.ErrNotFound) && existing[schemaVersionTable] {
		// SELECT *: version 1 has no min_compatible column.
		err = d.session.Query(d.stmts.legacyVersion, schemaComponent).WithContext(ctx).Consistency(d.meta).MapScan(row)
	}
	if errors.Is(err, gocql.ErrNotFound) {
		return storedVersion{}, nil
	}
	if err != nil {
		return storedVersion{}, fmt.Errorf("%w: reading schema version: %w", ErrSchema, err)
	}
	v := storedVersion{}
	if n, ok := row["version"].(int); ok {
		v.version = n
	}
	v.minCompatible = v.version
	if n, ok := row["min_compatible"].(int); ok && n > 0 {
		v.minCompatible = n
	}
	return v, nil
}

// copyLegacyMembers copies the readers and writers that builds of schema
// versions 1 to 3 recorded in peer_checkpoints into feed_members, when
// that table is still empty: their feed positions, and the heartbeats
// that tell redo which writers died with changes unfinished. It reads
// the whole of peer_checkpoints (one row per peer), once per keyspace.
func (d *db) copyLegacyMembers(ctx context.Context) error {
	existing, err := d.tableNames(ctx)
	if err != nil || !existing[checkpointsTable] {
		return err
	}
	var member string
	err = d.session.Query(d.stmts.anyMember, schemaComponent).WithContext(ctx).Consistency(d.meta).Scan(&member)
	if err == nil {
		return nil // copied before
	}
	if !errors.Is(err, gocql.ErrNotFound) {
		return fmt.Errorf("%w: reading %s: %w", ErrSchema, membersTable, err)
	}
	ttl := int64(d.cfg.EventRetention / time.Second)
	iter := d.session.Query(d.stmts.legacyMembers).WithContext(ctx).Consistency(d.meta).Iter()
	var (
		id                       string
		pos, updated, beat, safe time.Time
		closed                   *bool
		dc                       *string
		n                        int
	)
	for iter.Scan(&id, &pos, &updated, &beat, &safe, &closed, &dc) {
		if err := d.session.Query(d.stmts.copyMember, schemaComponent, id, nullTime(pos), nullTime(updated), nullTime(beat), nullTime(safe), closed, dc, ttl).
			WithContext(ctx).Consistency(d.meta).Exec(); err != nil {
			_ = iter.Close()
			return fmt.Errorf("%w: copying feed member %s into %s: %w", ErrSchema, id, membersTable, err)
		}
		n++
		closed, dc = nil, nil
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrSchema, checkpointsTable, err)
	}
	if n > 0 {
		logger.Infof("copied %d feed readers and writers from %s.%s into %s", n, d.cfg.Keyspace, checkpointsTable, membersTable)
	}
	return nil
}

// nullTime leaves a zero time unset.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return gocql.UnsetValue
	}
	return t
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
