package scyllastate

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
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

// schemaDir is the folder of the embedded schema files.
const schemaDir = "schema/cassandra"

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

// storedVersion is what a keyspace records about its schema.
type storedVersion struct {
	version, minCompatible int
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
