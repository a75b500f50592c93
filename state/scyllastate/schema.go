package scyllastate

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// The schema lives in .cql files embedded in the binary, as Temporal's
// Cassandra schema does: schema/cassandra/schema.cql is the whole current
// schema for a new keyspace, and schema/cassandra/versioned/vN holds a
// manifest.json and the .cql files that take a keyspace from version N-1
// to N. A database administrator can apply the same files with cqlsh
// (`cqlsh -k <keyspace> -f <file>`) and run the peers with
// schema_mode "check".

//go:embed schema
var schemaFiles embed.FS

const (
	pinsTable          = "pins"
	schemaVersionTable = "schema_version" // read by builds of versions 1 to 3
	schemaHistoryTable = "schema_history"
	layoutTable        = "feed_layout"
	activityTable      = "feed_activity"
	eventsTable        = "pin_events"
	checkpointsTable   = "peer_checkpoints" // feed_members of versions 1 to 3
	membersTable       = "feed_members"
	expiryTable        = "pin_expiry"
	schemaComponent    = "scyllastate"
	schemaDir          = "schema/cassandra"
)

// tables are the tables of the current schema, all checked by New.
var tables = []string{schemaHistoryTable, schemaVersionTable, pinsTable, eventsTable, membersTable, expiryTable, layoutTable, activityTable,
	trackerErrorsTable}

// manifest describes one schema version, as in Temporal's versioned
// folders.
type manifest struct {
	CurrVersion          int
	MinCompatibleVersion int
	Description          string
	SchemaUpdateCqlFiles []string
}

// schemaVersions reads the manifests of every version, in order.
func schemaVersions() ([]manifest, error) {
	dirs, err := fs.ReadDir(schemaFiles, schemaDir+"/versioned")
	if err != nil {
		return nil, err
	}
	var ms []manifest
	for _, d := range dirs {
		raw, err := fs.ReadFile(schemaFiles, path.Join(schemaDir, "versioned", d.Name(), "manifest.json"))
		if err != nil {
			return nil, err
		}
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("schema manifest %s: %w", d.Name(), err)
		}
		if d.Name() != fmt.Sprintf("v%d", m.CurrVersion) {
			return nil, fmt.Errorf("schema manifest %s declares version %d", d.Name(), m.CurrVersion)
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].CurrVersion < ms[j].CurrVersion })
	return ms, nil
}

// currentSchema is the newest manifest: the version this build writes.
var currentSchema = func() manifest {
	ms, err := schemaVersions()
	if err != nil || len(ms) == 0 {
		panic(fmt.Sprintf("embedded schema: %v", err))
	}
	return ms[len(ms)-1]
}()

// SchemaVersion is the schema version this build creates and writes.
var SchemaVersion = currentSchema.CurrVersion

// MinCompatibleSchemaVersion is the oldest schema version of a keyspace
// this build can use without upgrading it.
var MinCompatibleSchemaVersion = currentSchema.MinCompatibleVersion

// statementsOf reads the statements of an embedded .cql file: split at
// semicolons ending a line, comments removed.
func statementsOf(file string) ([]string, error) {
	raw, err := fs.ReadFile(schemaFiles, file)
	if err != nil {
		return nil, err
	}
	return splitStatements(file, raw)
}

// splitStatements splits the text of a .cql file (named file in errors).
func splitStatements(file string, raw []byte) ([]string, error) {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(line)
		if strings.HasSuffix(line, ";") {
			out = append(out, strings.TrimSuffix(cur.String(), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		return nil, fmt.Errorf("%s: statement without a closing semicolon: %q", file, cur.String())
	}
	return out, nil
}

var (
	tableStmtRe = regexp.MustCompile(`^(?i)(CREATE TABLE IF NOT EXISTS|ALTER TABLE|INSERT INTO|UPDATE)\s+([A-Za-z_][A-Za-z0-9_]*)\b`)
	addColumnRe = regexp.MustCompile(`^(?i)ALTER TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+ADD\s+([A-Za-z_][A-Za-z0-9_]*)\s`)
)

// qualify prefixes the table of a schema statement with the keyspace, as
// cqlsh -k does. Every statement of the embedded files has one of the
// forms of tableStmtRe (a test checks it).
func qualify(stmt, ks string) (string, error) {
	m := tableStmtRe.FindStringSubmatchIndex(stmt)
	if m == nil {
		return "", fmt.Errorf("schema statement of an unknown form: %q", stmt)
	}
	return stmt[:m[4]] + ks + "." + stmt[m[4]:], nil
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

// storedVersion is what a keyspace records about its schema.
type storedVersion struct {
	version, minCompatible int
}

// setupSchema creates or upgrades the schema (SchemaModeCreate) or checks
// it (SchemaModeCheck), then checks that this build can use it.
func (s *ScyllaState) setupSchema(ctx context.Context) error {
	ks := s.cfg.Keyspace
	if err := ValidateIdentifier("keyspace", ks); err != nil {
		return err
	}
	create := s.cfg.SchemaMode == SchemaModeCreate
	if create {
		stmt := "CREATE KEYSPACE IF NOT EXISTS " + ks + " WITH replication = " + s.cfg.replicationMap() + " AND durable_writes = true"
		if err := s.session.Query(stmt).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("%w: creating keyspace %q: %w", ErrSchema, ks, err)
		}
	}
	v, err := s.readVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case v.version == 0 && !create:
		return fmt.Errorf("%w: keyspace %q has no scyllastate schema and schema_mode is %q: apply %s/schema.cql with cqlsh (see docs/operations.md) or set schema_mode to %q",
			ErrSchema, ks, SchemaModeCheck, schemaDir, SchemaModeCreate)
	case v.version == 0:
		logger.Infof("creating the schema (version %d) in keyspace %q", SchemaVersion, ks)
		if err := s.applyFile(ctx, schemaDir+"/schema.cql"); err != nil {
			return err
		}
		// The feed layout of the new keyspace, from the setting (see
		// layout.go for two peers creating it at once).
		if err := s.insertLayout(ctx, 0, s.cfg.EventPartitions); err != nil {
			return fmt.Errorf("%w: %w", ErrSchema, err)
		}
	case v.version < SchemaVersion && !create:
		return fmt.Errorf("%w: keyspace %q has schema version %d and this build needs version %d: apply %s with cqlsh (see docs/operations.md) or set schema_mode to %q",
			ErrSchema, ks, v.version, SchemaVersion, strings.Join(updateFiles(v.version), ", "), SchemaModeCreate)
	case v.version < SchemaVersion:
		if err := s.upgrade(ctx, v.version); err != nil {
			return err
		}
	}
	if v, err = s.readVersion(ctx); err != nil {
		return err
	}
	if err := checkCompatible(ks, v); err != nil {
		return err
	}
	if err := s.checkTables(ctx); err != nil {
		return err
	}
	return s.copyLegacyMembers(ctx)
}

// checkCompatible tells whether this build can use a keyspace at v.
func checkCompatible(ks string, v storedVersion) error {
	switch {
	case v.version == 0:
		return fmt.Errorf("%w: keyspace %q records no schema version", ErrSchema, ks)
	case v.version < MinCompatibleSchemaVersion:
		return fmt.Errorf("%w: keyspace %q has schema version %d, this build needs at least %d", ErrSchema, ks, v.version, MinCompatibleSchemaVersion)
	case v.version > SchemaVersion && v.minCompatible > SchemaVersion:
		return fmt.Errorf("%w: keyspace %q has schema version %d, which needs builds of schema version %d or newer; this build has %d: upgrade ipfs-cluster-service",
			ErrSchema, ks, v.version, v.minCompatible, SchemaVersion)
	}
	return nil
}

// updateFiles lists the files that take a keyspace from version from to
// the current one.
func updateFiles(from int) []string {
	ms, _ := schemaVersions()
	var files []string
	for _, m := range ms {
		if m.CurrVersion <= from {
			continue
		}
		for _, f := range m.SchemaUpdateCqlFiles {
			files = append(files, path.Join(schemaDir, "versioned", fmt.Sprintf("v%d", m.CurrVersion), f))
		}
	}
	return files
}

// upgrade applies the versioned updates after version from, in order.
func (s *ScyllaState) upgrade(ctx context.Context, from int) error {
	for _, f := range updateFiles(from) {
		logger.Infof("upgrading the schema of keyspace %q: applying %s", s.cfg.Keyspace, f)
		if err := s.applyFile(ctx, f); err != nil {
			return err
		}
	}
	logger.Infof("schema of keyspace %q upgraded from version %d to %d", s.cfg.Keyspace, from, SchemaVersion)
	return nil
}

// applyFile runs the statements of an embedded .cql file in the keyspace.
// Adding a column that exists already is skipped, so that a file can be
// applied again after an interruption or by two peers at once.
func (s *ScyllaState) applyFile(ctx context.Context, file string) error {
	stmts, err := statementsOf(file)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSchema, err)
	}
	for _, stmt := range stmts {
		if m := addColumnRe.FindStringSubmatch(stmt); m != nil {
			exists, err := s.columnExists(ctx, m[1], m[2])
			if err != nil {
				return err
			}
			if exists {
				continue
			}
		}
		q, err := qualify(stmt, s.cfg.Keyspace)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSchema, file, err)
		}
		if err := s.session.Query(q).WithContext(ctx).Exec(); err != nil {
			if m := addColumnRe.FindStringSubmatch(stmt); m != nil {
				if exists, cerr := s.columnExists(ctx, m[1], m[2]); cerr == nil && exists {
					continue // added meanwhile by another peer
				}
			}
			return fmt.Errorf("%w: applying %s to keyspace %q: %q: %w", ErrSchema, file, s.cfg.Keyspace, stmt, err)
		}
		if err := s.session.AwaitSchemaAgreement(ctx); err != nil {
			return fmt.Errorf("%w: waiting for schema agreement: %w", ErrSchema, err)
		}
	}
	return nil
}

func (s *ScyllaState) tableNames(ctx context.Context) (map[string]bool, error) {
	iter := s.session.Query(
		"SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", s.cfg.Keyspace,
	).WithContext(ctx).Consistency(gocql.LocalOne).Iter()
	found := map[string]bool{}
	var name string
	for iter.Scan(&name) {
		found[name] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("%w: reading the tables of keyspace %q: %w", ErrSchema, s.cfg.Keyspace, err)
	}
	return found, nil
}

func (s *ScyllaState) columnExists(ctx context.Context, table, column string) (bool, error) {
	var name string
	err := s.session.Query(
		"SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
		s.cfg.Keyspace, table, column,
	).WithContext(ctx).Consistency(gocql.LocalOne).Scan(&name)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: reading the columns of %s.%s: %w", ErrSchema, s.cfg.Keyspace, table, err)
	}
	return true, nil
}

func (s *ScyllaState) checkTables(ctx context.Context) error {
	found, err := s.tableNames(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if !found[t] {
			return fmt.Errorf("%w: table %s.%s does not exist: apply %s/schema.cql with cqlsh (see docs/operations.md) or set schema_mode to %q",
				ErrSchema, s.cfg.Keyspace, t, schemaDir, SchemaModeCreate)
		}
	}
	return nil
}

// readVersion reads the recorded schema version: the highest row of
// schema_history (version 4 on), or else the row of schema_version that
// versions 1 to 3 wrote. Both are plain reads (at metaConsistency):
// versions are written without lightweight transactions, each by one
// idempotent statement.
func (s *ScyllaState) readVersion(ctx context.Context) (storedVersion, error) {
	// A table another peer has just created can be listed before the
	// node serves it ("table ... does not exist"): read again shortly.
	for attempt := 1; ; attempt++ {
		v, err := s.readVersionOnce(ctx)
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

func (s *ScyllaState) readVersionOnce(ctx context.Context) (storedVersion, error) {
	existing, err := s.tableNames(ctx)
	if err != nil {
		return storedVersion{}, err
	}
	row := map[string]any{}
	err = gocql.ErrNotFound
	if existing[schemaHistoryTable] {
		err = s.session.Query(s.stmts.version, schemaComponent).WithContext(ctx).Consistency(s.meta).MapScan(row)
	}
	if errors.Is(err, gocql.ErrNotFound) && existing[schemaVersionTable] {
		// SELECT *: version 1 has no min_compatible column.
		err = s.session.Query(s.stmts.legacyVersion, schemaComponent).WithContext(ctx).Consistency(s.meta).MapScan(row)
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

// RequiredTables are the tables of the schema this build uses.
func RequiredTables() []string { return append([]string(nil), tables...) }

// The tables of the schema, by role.
const (
	PinsTable          = pinsTable
	EventsTable        = eventsTable
	CheckpointsTable   = membersTable
	LayoutTable        = layoutTable
	SchemaVersionTable = schemaVersionTable
)

// CheckSchemaVersion tells whether this build can use a keyspace that
// records version and minCompatible, with the error New would return.
// A compatible keyspace older than SchemaVersion is still upgraded by New
// (schema_mode create) or refused (schema_mode check).
func CheckSchemaVersion(keyspace string, version, minCompatible int) error {
	return checkCompatible(keyspace, storedVersion{version: version, minCompatible: minCompatible})
}

// SchemaUpdateFiles lists the embedded files that take a keyspace from
// version from to SchemaVersion, for cqlsh.
func SchemaUpdateFiles(from int) []string { return updateFiles(from) }

// SchemaFile is the embedded file holding the whole current schema.
const SchemaFile = schemaDir + "/schema.cql"
