package cqlaudit

import (
	"fmt"
	"sort"
	"strings"
)

// ScyllaDB variants of a documented statement (the scylla= attribute).
const (
	ScyllaTimeout     = "timeout"      // " USING TIMEOUT <timeout>" appended
	ScyllaBypassCache = "bypass-cache" // " BYPASS CACHE USING TIMEOUT <timeout>" appended
)

// Range reads a documented statement may make (the range= attribute).
const (
	RangeToken   = "token"   // the token-range lister
	RangeUpgrade = "upgrade" // the one-time full read of an upgrade
)

// Entry is one statement of docs/cql.md.
type Entry struct {
	// Statement is the statement as sent to Apache Cassandra, normalised.
	Statement string
	// Scylla is the ScyllaDB variant ("", ScyllaTimeout or
	// ScyllaBypassCache).
	Scylla string
	// Range is the range read the statement may make ("", RangeToken or
	// RangeUpgrade).
	Range string
	// Line is the line of the block in the document; Section the heading
	// above it.
	Line    int
	Section string
}

// Variants returns the texts the entry allows: the statement, and on
// ScyllaDB the statement with its ScyllaDB clauses.
func (e *Entry) Variants() []string {
	switch e.Scylla {
	case ScyllaTimeout:
		return []string{e.Statement, e.Statement + " USING TIMEOUT " + TimeoutPlaceholder}
	case ScyllaBypassCache:
		return []string{e.Statement, e.Statement + " BYPASS CACHE USING TIMEOUT " + TimeoutPlaceholder}
	}
	return []string{e.Statement}
}

// Catalogue is the list of statements of docs/cql.md.
type Catalogue struct {
	Entries []*Entry
	byText  map[string]*Entry
}

// Lookup returns the entry that allows a normalised statement, nil when
// none does.
func (c *Catalogue) Lookup(stmt string) *Entry { return c.byText[stmt] }

// ParseCatalogue reads the statements of a document in the format of
// docs/cql.md (see the package documentation). It fails on a block that
// is not closed or is empty, an unknown attribute, a statement listed
// twice, and a range= attribute on more than one statement.
func ParseCatalogue(md string) (*Catalogue, error) {
	c := &Catalogue{byText: map[string]*Entry{}}
	lines := strings.Split(md, "\n")
	section := ""
	ranges := map[string]*Entry{}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if !strings.HasPrefix(line, "```") {
			continue
		}
		info := strings.Fields(strings.TrimPrefix(line, "```"))
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: the ``` block never ends", start+1)
		}
		if len(info) < 2 || info[0] != "cql" || info[1] != "stmt" {
			continue // another block: an example, a listing
		}
		e := &Entry{Statement: Normalize(strings.Join(body, "\n")), Line: start + 1, Section: section}
		if e.Statement == "" {
			return nil, fmt.Errorf("line %d: empty statement block", e.Line)
		}
		for _, attr := range info[2:] {
			k, v, _ := strings.Cut(attr, "=")
			switch {
			case k == "scylla" && (v == ScyllaTimeout || v == ScyllaBypassCache):
				e.Scylla = v
			case k == "range" && (v == RangeToken || v == RangeUpgrade):
				if prev := ranges[v]; prev != nil {
					return nil, fmt.Errorf("line %d: range=%s marks line %d already: only one statement may", e.Line, v, prev.Line)
				}
				ranges[v] = e
				e.Range = v
			default:
				return nil, fmt.Errorf("line %d: unknown attribute %q (scylla=%s|%s, range=%s|%s)", e.Line, attr, ScyllaTimeout, ScyllaBypassCache, RangeToken, RangeUpgrade)
			}
		}
		for _, v := range e.Variants() {
			if prev := c.byText[v]; prev != nil {
				return nil, fmt.Errorf("line %d: statement listed already at line %d: %s", e.Line, prev.Line, v)
			}
			c.byText[v] = e
		}
		c.Entries = append(c.Entries, e)
	}
	return c, nil
}

// Statements returns every text the catalogue allows, sorted.
func (c *Catalogue) Statements() []string {
	out := make([]string, 0, len(c.byText))
	for s := range c.byText {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
