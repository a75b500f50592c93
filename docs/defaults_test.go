package docs

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/informer/scyllahealth"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// defaultsMarker precedes a table that states the defaults of a section:
// | JSON key | ... | default | ... |.
var defaultsMarker = regexp.MustCompile(`^<!-- defaults: (\S+) -->$`)

// defaultRow is one row of a defaults table.
type defaultRow struct {
	page    string
	line    int
	keys    []string // a row may describe several keys (`username`, `password`)
	stated  string   // the default cell
	section string
}

func (r defaultRow) where() string { return fmt.Sprintf("%s:%d", r.page, r.line) }

var codeSpan = regexp.MustCompile("`([^`]*)`")

// defaultsTables returns the rows of the marked defaults tables of a page;
// a table with a "default" column and no marker is an error (its values
// would go unchecked).
func defaultsTables(t *testing.T, page string) []defaultRow {
	t.Helper()
	lines := readLines(t, page)
	fenced := inFence(lines)
	var rows []defaultRow
	for i := 0; i < len(lines); i++ {
		if fenced[i] || !strings.HasPrefix(lines[i], "|") {
			continue
		}
		header := splitRow(lines[i])
		keyCol, defCol := -1, -1
		for c, h := range header {
			switch strings.ToLower(h) {
			case "json key":
				keyCol = c
			case "default":
				defCol = c
			}
		}
		section := ""
		for j := i - 1; j >= 0 && j >= i-2; j-- {
			if m := defaultsMarker.FindStringSubmatch(strings.TrimSpace(lines[j])); m != nil {
				section = m[1]
			}
		}
		end := i + 1
		for end < len(lines) && strings.HasPrefix(lines[end], "|") {
			end++
		}
		switch {
		case section != "" && (keyCol < 0 || defCol < 0):
			t.Errorf("%s:%d: a <!-- defaults: %s --> table needs a \"JSON key\" and a \"default\" column", page, i+1, section)
		case keyCol < 0 || defCol < 0:
			// Not a table of settings (flags of a command, say).
		case section == "":
			t.Errorf("%s:%d: a table of settings and their defaults without a <!-- defaults: SECTION --> line above it: "+
				"mark it so that its values are checked against the code", page, i+1)
		default:
			for k := i + 2; k < end; k++ { // after the header and its separator
				cells := splitRow(lines[k])
				if len(cells) <= max(keyCol, defCol) {
					t.Errorf("%s:%d: the row has %d cells", page, k+1, len(cells))
					continue
				}
				var keys []string
				for _, m := range codeSpan.FindAllStringSubmatch(cells[keyCol], -1) {
					keys = append(keys, m[1])
				}
				if len(keys) == 0 {
					t.Errorf("%s:%d: no `key` in %q", page, k+1, cells[keyCol])
					continue
				}
				rows = append(rows, defaultRow{page: page, line: k + 1, keys: keys, stated: cells[defCol], section: section})
			}
		}
		i = end - 1
	}
	return rows
}

func splitRow(line string) []string {
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// sectionDefaults are the sections whose defaults a page may state: the
// JSON of Default(), and of a configuration with every optional field set
// (to know every key).
var sectionDefaults = map[string]func(t *testing.T) (defaults, every map[string]any){
	"state.scyllastate": func(t *testing.T) (map[string]any, map[string]any) {
		def := &scyllastate.Config{}
		if err := def.Default(); err != nil {
			t.Fatal(err)
		}
		full := &scyllastate.Config{
			Username: "u", Password: "p", LocalDC: "dc1", EventConsistency: "EACH_QUORUM", DCReplication: map[string]int{"dc1": 3},
			TLS: &scyllastate.TLSConfig{Enabled: true, CertFile: "c", KeyFile: "k", CAFile: "a", InsecureSkipVerify: true},
		}
		if err := full.Default(); err != nil {
			t.Fatal(err)
		}
		return jsonLeaves(t, def), jsonLeaves(t, full)
	},
	"consensus.scylla": func(t *testing.T) (map[string]any, map[string]any) {
		def := &scyllacons.Config{}
		if err := def.Default(); err != nil {
			t.Fatal(err)
		}
		return jsonLeaves(t, def), jsonLeaves(t, def)
	},
	"informer.scyllahealth": func(t *testing.T) (map[string]any, map[string]any) {
		def := &scyllahealth.Config{}
		if err := def.Default(); err != nil {
			t.Fatal(err)
		}
		return jsonLeaves(t, def), jsonLeaves(t, def)
	},
}

// sameDefault tells whether a default cell states the value the code
// gives (present: whether the key is in Default()'s JSON at all).
func sameDefault(stated string, got any, present bool) bool {
	m := codeSpan.FindStringSubmatch(stated)
	if m == nil || !strings.HasPrefix(stated, "`") {
		// Prose: "empty", "empty (system roots)", "none".
		if !strings.HasPrefix(stated, "empty") && !strings.HasPrefix(stated, "none") {
			return false
		}
		if !present || got == nil {
			return true
		}
		switch v := got.(type) {
		case string:
			return v == ""
		case []any:
			return len(v) == 0
		case map[string]any:
			return len(v) == 0
		}
		return false
	}
	want := m[1]
	if !present {
		return false
	}
	if s, ok := got.(string); ok {
		if a, errA := time.ParseDuration(s); errA == nil {
			b, errB := time.ParseDuration(want)
			return errB == nil && a == b
		}
		return s == want
	}
	var v any
	if err := json.Unmarshal([]byte(want), &v); err != nil {
		return false
	}
	a, _ := json.Marshal(v)
	b, _ := json.Marshal(got)
	return string(a) == string(b)
}

// TestStatedDefaultsAreTheCodes: every default stated in a marked table of
// the README or of docs/ is what Default() gives, and every key of a
// section has a row.
func TestStatedDefaultsAreTheCodes(t *testing.T) {
	rowsOf := map[string][]defaultRow{}
	for _, page := range allPages(t) {
		for _, r := range defaultsTables(t, page) {
			rowsOf[r.section] = append(rowsOf[r.section], r)
		}
	}
	if len(rowsOf) == 0 {
		t.Fatal("no <!-- defaults: SECTION --> table in the README or docs/")
	}
	for section, rows := range rowsOf {
		load, ok := sectionDefaults[section]
		if !ok {
			t.Errorf("%s: unknown section %q in <!-- defaults: %s -->", rows[0].where(), section, section)
			continue
		}
		defaults, every := load(t)
		described := map[string]bool{}
		for _, r := range rows {
			for _, key := range r.keys {
				described[key] = true
				if _, known := every[key]; !known {
					t.Errorf("%s: %s.%s is not a key of the section", r.where(), section, key)
					continue
				}
				got, present := defaults[key]
				if _, isBool := every[key].(bool); isBool && !present {
					got, present = false, true // omitted from the JSON when false
				}
				if !sameDefault(r.stated, got, present) {
					code := "absent"
					if present {
						code = compact(t, got)
					}
					t.Errorf("%s: %s.%s: the table says the default is %s, Default() gives %s", r.where(), section, key, r.stated, code)
				}
			}
		}
		var missing []string
		for key := range every {
			if !described[key] {
				missing = append(missing, key)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s: the defaults table of %s lacks %v", rows[0].page, section, missing)
		}
	}
	for _, section := range []string{"state.scyllastate", "consensus.scylla", "informer.scyllahealth"} {
		if len(rowsOf[section]) == 0 {
			t.Errorf("no page states the defaults of %s: add a <!-- defaults: %s --> table to configuration.md", section, section)
		}
	}
}
