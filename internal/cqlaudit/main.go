package cqlaudit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/seams"
)

// Paths, relative to the module root, of what Load reads.
const (
	CataloguePath = "docs/cql.md"
	SchemaDir     = "state/scyllastate/schema"
)

// UpgradeTable is the table the upgrade-only statement may read whole:
// peer_checkpoints, copied once into feed_members (schema version 4).
const UpgradeTable = "peer_checkpoints"

// Load builds the auditor of this module: the catalogue of docs/cql.md
// and the partition keys of every table created by the .cql files under
// state/scyllastate/schema, both found from the working directory up to
// the module root.
func Load() (*Auditor, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	md, err := os.ReadFile(filepath.Join(root, CataloguePath))
	if err != nil {
		return nil, fmt.Errorf("reading the statement catalogue: %w", err)
	}
	cat, err := ParseCatalogue(string(md))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CataloguePath, err)
	}
	var texts []string
	err = filepath.WalkDir(filepath.Join(root, SchemaDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".cql") {
			return err
		}
		raw, err := os.ReadFile(path)
		texts = append(texts, string(raw))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	pks, err := PartitionKeys(texts...)
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	return &Auditor{Catalogue: cat, PartitionKeys: pks, UpgradeTables: map[string]bool{UpgradeTable: true}}, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// stderr is where Main reports (a test of Main replaces it).
var stderr io.Writer = os.Stderr

// Runner is what Main runs: a *testing.M.
type Runner interface{ Run() int }

// Main is the body of a TestMain: it installs rec (a new recorder when
// nil) on every session the stores open from now on
// (seams.SetCQLObserver), runs the tests, then audits what rec recorded
// (Load, Auditor.Audit) and reports on stderr. It returns the code for
// os.Exit: the tests' code, or 1 when they passed and the audit finds a
// violation or cannot run.
//
//	func TestMain(m *testing.M) { os.Exit(cqlaudit.Main(m, nil)) }
func Main(m Runner, rec *Recorder) int {
	if rec == nil {
		rec = NewRecorder()
	}
	restore := seams.SetCQLObserver(rec, rec)
	code := m.Run()
	restore()
	if Report(stderr, rec, testing.Verbose()) != nil && code == 0 {
		code = 1
	}
	return code
}

// ErrViolations is returned by Report when the audit found violations.
var ErrViolations = errors.New("the CQL sent breaks the rules of docs/cql.md")

// Report audits what rec recorded and writes the violations to w, or one
// summary line when there is none (verbose: then the statements of the
// catalogue that were not sent). It returns ErrViolations, or the error
// that kept the audit from running.
func Report(w io.Writer, rec *Recorder, verbose bool) error {
	a, err := Load()
	if err != nil {
		fmt.Fprintf(w, "cqlaudit: cannot audit the CQL sent: %v\n", err)
		return err
	}
	uses := rec.Uses()
	violations := append(a.CheckCatalogue(), a.Audit(uses)...)
	if len(violations) == 0 {
		fmt.Fprintf(w, "cqlaudit: %d distinct statement(s) sent, all in %s; no conditional write, ALLOW FILTERING or stray range read (%d of its %d statements not sent by these tests)\n",
			len(uses), CataloguePath, len(a.Unused(uses)), len(a.Catalogue.Entries))
		if verbose {
			for _, stmt := range a.Unused(uses) {
				fmt.Fprintf(w, "cqlaudit: not sent: %s\n", stmt)
			}
		}
		return nil
	}
	fmt.Fprintf(w, "\ncqlaudit: FAIL: %d violation(s) in the CQL these tests made the product send (rules: internal/cqlaudit, catalogue: %s):\n", len(violations), CataloguePath)
	for _, v := range violations {
		fmt.Fprintf(w, "  %s\n", v)
	}
	return ErrViolations
}
