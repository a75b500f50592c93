// Package docs holds the user documentation. Its tests keep the pages true:
// every Go block of a page is a program under examples/ (compiled by
// `go build ./...` and `go vet ./...`), included verbatim; the tables
// of environment variables in configuration.md are what ApplyEnvVars does
// and its defaults tables what Default() gives (defaults_test.go); every
// relative link of the README and of the pages leads to a file and heading
// that exist, and the sharness table of testing.md names every test file
// (links_test.go); with the scylla tag, every configuration example, and
// the production example's output, passes the daemon's start checks
// (config_examples_test.go).
//
// After changing an example, refresh the pages with
//
//	go test ./docs -run TestExamplesAreIncludedVerbatim -update
package docs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/informer/scyllahealth"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

var update = flag.Bool("update", false, "rewrite the included examples of the pages from their files")

// exampleMarker precedes a ```go block that must equal the file it names
// (relative to docs/).
var exampleMarker = regexp.MustCompile(`^<!-- example: (\S+) -->$`)

type block struct {
	page       string
	file       string // from the marker; "" when the block has none
	start, end int    // lines of the block's content: [start, end)
}

// goBlocks returns the ```go blocks of a page and the example each one is
// marked with.
func goBlocks(t *testing.T, page string, lines []string) []block {
	t.Helper()
	var blocks []block
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		b := block{page: page, start: i + 1}
		if i > 0 {
			if m := exampleMarker.FindStringSubmatch(lines[i-1]); m != nil {
				b.file = m[1]
			}
		}
		j := b.start
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		if j == len(lines) {
			t.Fatalf("%s:%d: the ```go block never ends", page, i+1)
		}
		b.end = j
		blocks = append(blocks, b)
		i = j
	}
	return blocks
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
}

func pages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	return pages
}

// TestExamplesAreIncludedVerbatim: every Go block of a page is marked with
// the example it shows and equals that file, and every example is shown.
func TestExamplesAreIncludedVerbatim(t *testing.T) {
	examples, err := filepath.Glob("examples/*/*.go")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples under docs/examples (%v)", err)
	}
	shown := map[string]bool{}
	for _, page := range pages(t) {
		lines := readLines(t, page)
		var out []string
		last := 0
		for _, b := range goBlocks(t, page, lines) {
			if b.file == "" {
				t.Errorf("%s:%d: a Go block without a <!-- example: examples/NAME/main.go --> line above it: "+
					"move the code to a program under docs/examples so that it compiles", page, b.start)
				continue
			}
			shown[filepath.Clean(b.file)] = true
			want := readLines(t, b.file)
			got := lines[b.start:b.end]
			if *update {
				out = append(append(out, lines[last:b.start]...), want...)
				last = b.end
				continue
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s:%d: the block differs from %s (line %d): run go test ./docs -run %s -update",
					page, b.start+1, b.file, firstDifference(got, want)+1, t.Name())
			}
		}
		if *update {
			out = append(out, lines[last:]...)
			if err := os.WriteFile(page, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range examples {
		if !shown[filepath.Clean(e)] {
			t.Errorf("%s is shown on no page: include it with <!-- example: %s --> and a ```go block", e, e)
		}
	}
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// envRow is one row of an environment table: | `json.key` | `VAR` | `example` | `json` |.
type envRow struct {
	key, env, example, result string
	line                      int
}

var envTableMarker = regexp.MustCompile(`^<!-- env-table: (\S+) -->$`)

// envTables returns the rows of the tables marked <!-- env-table: SECTION -->.
func envTables(t *testing.T, page string) map[string][]envRow {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tables := map[string][]envRow{}
	section := ""
	cell := regexp.MustCompile("^`(.*)`$")
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := envTableMarker.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if section == "" {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if line != "" || len(tables[section]) > 0 {
				section = ""
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue // header or separator
		}
		var vals [4]string
		for i := range vals {
			m := cell.FindStringSubmatch(strings.TrimSpace(cells[i]))
			if m == nil {
				t.Fatalf("%s:%d: cell %d %q is not `code`", page, n, i+1, cells[i])
			}
			vals[i] = m[1]
		}
		tables[section] = append(tables[section], envRow{vals[0], vals[1], vals[2], vals[3], n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// component is what the environment tables describe.
type component interface {
	Default() error
	ApplyEnvVars() error
	ToJSON() ([]byte, error)
}

// leaves flattens a JSON object into dotted keys; objects whose keys are
// data (dc_replication) stay whole.
func leaves(prefix string, v any, out map[string]any) {
	obj, ok := v.(map[string]any)
	if !ok || prefix == "dc_replication" {
		out[prefix] = v
		return
	}
	for k, sub := range obj {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		leaves(key, sub, out)
	}
}

func jsonLeaves(t *testing.T, c component) map[string]any {
	t.Helper()
	raw, err := c.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	leaves("", v, out)
	return out
}

func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// checkEnvTable sets each row's variable to its example and checks that
// ApplyEnvVars turns it into the row's JSON value, and that every JSON
// key of the section (all of full's) has a row.
func checkEnvTable(t *testing.T, name string, rows []envRow, fresh func() component, full component) {
	t.Helper()
	if len(rows) == 0 {
		t.Fatalf("configuration.md has no <!-- env-table: %s --> table", name)
	}
	byKey := map[string]bool{}
	for _, r := range rows {
		byKey[r.key] = true
		t.Run(r.env, func(t *testing.T) {
			def := fresh()
			if err := def.Default(); err != nil {
				t.Fatal(err)
			}
			before := jsonLeaves(t, def)

			t.Setenv(r.env, r.example)
			c := fresh()
			if err := c.Default(); err != nil {
				t.Fatal(err)
			}
			if err := c.ApplyEnvVars(); err != nil {
				t.Fatalf("configuration.md:%d: %s=%q: %v", r.line, r.env, r.example, err)
			}
			after := jsonLeaves(t, c)
			got, ok := after[r.key]
			if !ok {
				t.Fatalf("configuration.md:%d: %s=%q: no key %q in the JSON: %v", r.line, r.env, r.example, r.key, after)
			}
			var want any
			if err := json.Unmarshal([]byte(r.result), &want); err != nil {
				t.Fatalf("configuration.md:%d: result %q is not JSON: %v", r.line, r.result, err)
			}
			if compact(t, got) != compact(t, want) {
				t.Errorf("configuration.md:%d: %s=%q gives %s = %s, the table says %s", r.line, r.env, r.example, r.key, compact(t, got), r.result)
			}
			if b, ok := before[r.key]; ok && compact(t, b) == compact(t, want) {
				t.Errorf("configuration.md:%d: the example of %s is the default value: it shows nothing", r.line, r.env)
			}
		})
	}
	var missing []string
	for k := range jsonLeaves(t, full) {
		if !byKey[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("configuration.md: the %s table lacks %v", name, missing)
	}
}

func TestEnvironmentTablesMatchApplyEnvVars(t *testing.T) {
	tables := envTables(t, "configuration.md")

	full := &scyllastate.Config{
		Username: "u", Password: "p", LocalDC: "dc1", DCReplication: map[string]int{"dc1": 3},
		TLS: &scyllastate.TLSConfig{Enabled: true, CertFile: "c", KeyFile: "k", CAFile: "a", InsecureSkipVerify: true},
	}
	if err := full.Default(); err != nil {
		t.Fatal(err)
	}
	checkEnvTable(t, "scyllastate", tables["scyllastate"],
		func() component { return &scyllastate.Config{} }, full)

	fullCons := &scyllacons.Config{}
	if err := fullCons.Default(); err != nil {
		t.Fatal(err)
	}
	checkEnvTable(t, "consensus.scylla", tables["consensus.scylla"],
		func() component { return &scyllacons.Config{} }, fullCons)

	fullHealth := &scyllahealth.Config{}
	if err := fullHealth.Default(); err != nil {
		t.Fatal(err)
	}
	checkEnvTable(t, "informer.scyllahealth", tables["informer.scyllahealth"],
		func() component { return &scyllahealth.Config{} }, fullHealth)

	for name := range tables {
		if name != "scyllastate" && name != "consensus.scylla" && name != "informer.scyllahealth" {
			t.Errorf("configuration.md: unknown env-table %q", name)
		}
	}
}

// TestGuideVariablesAreMapped: every SCYLLA_* variable of the usage guide's
// examples has a row in the mapping table, whose variable exists.
func TestGuideVariablesAreMapped(t *testing.T) {
	raw, err := os.ReadFile("configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(SCYLLA_[A-Z_]+)` \\| (.*)\\|$")
	mapped := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		mapped[m[1]] = m[2]
	}
	for _, v := range []string{"SCYLLA_HOSTS", "SCYLLA_PORT", "SCYLLA_KEYSPACE", "SCYLLA_USERNAME", "SCYLLA_PASSWORD", "SCYLLA_CONSISTENCY"} {
		target, ok := mapped[v]
		if !ok {
			t.Errorf("configuration.md maps no %s", v)
			continue
		}
		if !strings.Contains(target, "`CLUSTER_SCYLLASTATE_") {
			t.Errorf("%s maps to %q, not a CLUSTER_SCYLLASTATE_ variable", v, target)
		}
	}
}
