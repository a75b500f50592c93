package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// link matches [text](target) and ![alt](target), with an optional title.
var link = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestRelativeLinksLeadSomewhere: every relative link of the README and of
// the pages of docs/ leads to a file or folder that exists, and a link to a
// heading (page.md#anchor, or #anchor) to a heading of that page.
func TestRelativeLinksLeadSomewhere(t *testing.T) {
	anchorsOf := map[string]map[string]bool{}
	anchors := func(page string) map[string]bool {
		if a, ok := anchorsOf[page]; ok {
			return a
		}
		a := headingAnchors(readLines(t, page))
		anchorsOf[page] = a
		return a
	}
	checked := 0
	for _, page := range allPages(t) {
		for n, line := range proseLines(readLines(t, page)) {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				path, anchor, _ := strings.Cut(target, "#")
				dest := page
				if path != "" {
					dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(path))
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s:%d: the link %q leads to no file: %v", page, n+1, target, err)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if filepath.Ext(dest) != ".md" {
					t.Errorf("%s:%d: the link %q names a heading of a file that is not a page", page, n+1, target)
					continue
				}
				if !anchors(dest)[anchor] {
					t.Errorf("%s:%d: the link %q names no heading of %s", page, n+1, target, dest)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the link pattern is broken")
	}
}

// TestDocsSpeakOfTheProduct: the pages describe the product, not the
// tracker where its work was planned, which their readers cannot see.
func TestDocsSpeakOfTheProduct(t *testing.T) {
	tracker := regexp.MustCompile(`(?i)\bissues?\s+(#?\d+|notes)\b|targets of issues?`)
	for _, page := range allPages(t) {
		for n, line := range readLines(t, page) {
			if m := tracker.FindString(line); m != "" {
				t.Errorf("%s:%d: %q refers to the project's tracker, which readers cannot see: say what it means here "+
					"(text between the bench-compare markers comes from bench/compare's report)", page, n+1, m)
			}
		}
	}
}

// TestSharnessTableNamesEveryFile: the table of end-to-end test files in
// testing.md names files that exist, and every file of sharness/.
func TestSharnessTableNamesEveryFile(t *testing.T) {
	files, err := filepath.Glob("../sharness/t[0-9][0-9][0-9][0-9]-*.sh")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in sharness/ (%v)", err)
	}
	exists := map[int]string{}
	for _, f := range files {
		n, _ := strconv.Atoi(filepath.Base(f)[1:5])
		exists[n] = filepath.Base(f)
	}

	const page = "testing.md"
	lines := readLines(t, page)
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "<!-- sharness-table -->" {
			start = i + 1
		}
	}
	if start < 0 {
		t.Fatalf("%s has no <!-- sharness-table --> marker", page)
	}
	cell := regexp.MustCompile(`^t(\d{4})(?:[–-]t(\d{4}))?$`)
	covered := map[int]bool{}
	rows := 0
	for i := start; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		first := strings.TrimSpace(strings.Split(strings.Trim(lines[i], "|"), "|")[0])
		if first == "files" || strings.Trim(first, "-") == "" {
			continue // header, separator
		}
		m := cell.FindStringSubmatch(first)
		if m == nil {
			t.Errorf("%s:%d: %q is not tNNNN or tNNNN–tNNNN", page, i+1, first)
			continue
		}
		rows++
		lo, _ := strconv.Atoi(m[1])
		hi := lo
		if m[2] != "" {
			hi, _ = strconv.Atoi(m[2])
		}
		for _, end := range []int{lo, hi} {
			if _, ok := exists[end]; !ok {
				t.Errorf("%s:%d: sharness has no file t%04d-*.sh", page, i+1, end)
			}
		}
		for n := range exists {
			if n >= lo && n <= hi {
				if covered[n] {
					t.Errorf("%s:%d: %s is in two rows", page, i+1, exists[n])
				}
				covered[n] = true
			}
		}
	}
	if rows == 0 {
		t.Fatalf("%s: the sharness table has no row", page)
	}
	var missing []string
	for n, f := range exists {
		if !covered[n] {
			missing = append(missing, f)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s: the sharness table does not describe %v", page, missing)
	}
}
