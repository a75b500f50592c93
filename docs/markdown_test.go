package docs

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// allPages are the pages the tests of this package read: the README and
// every page of docs/.
func allPages(t *testing.T) []string {
	t.Helper()
	return append([]string{"../README.md"}, pages(t)...)
}

// inFence tells, for each line of a page, whether it lies inside a fenced
// code block (the fences included).
func inFence(lines []string) []bool {
	in := make([]bool, len(lines))
	fence := ""
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			in[i] = true
		case fence != "":
			in[i] = true
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
			}
		}
	}
	return in
}

// fencedBlock is a fenced code block of a page.
type fencedBlock struct {
	lang   string
	marker string // the HTML comment on the line above the fence, if any
	line   int    // 1-based line of the first line of content
	body   string
}

// fencedBlocks returns the fenced code blocks of a page.
func fencedBlocks(lines []string) []fencedBlock {
	var blocks []fencedBlock
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		b := fencedBlock{lang: strings.TrimPrefix(trimmed, "```"), line: i + 2}
		if i > 0 {
			if above := strings.TrimSpace(lines[i-1]); strings.HasPrefix(above, "<!--") {
				b.marker = above
			}
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		b.body = strings.Join(lines[i+1:min(j, len(lines))], "\n")
		blocks = append(blocks, b)
		i = j
	}
	return blocks
}

var inlineCode = regexp.MustCompile("`[^`]*`")

// proseLines returns the lines of a page outside code blocks, with inline
// code spans replaced by "code" (so that their text is neither a link nor
// a word of the prose).
func proseLines(lines []string) []string {
	fenced := inFence(lines)
	out := make([]string, len(lines))
	for i, l := range lines {
		if !fenced[i] {
			out[i] = inlineCode.ReplaceAllString(l, "code")
		}
	}
	return out
}

var heading = regexp.MustCompile(`^#{1,6} +(.+?)#*$`)

// headingAnchors returns the anchors GitHub gives the headings of a page.
func headingAnchors(lines []string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := inFence(lines)
	for i, l := range lines {
		m := heading.FindStringSubmatch(l)
		if fenced[i] || m == nil {
			continue
		}
		slug := slugify(strings.TrimSpace(m[1]))
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// slugify is GitHub's anchor of a heading: lower case, letters, digits,
// '_' and '-' kept, spaces turned into '-', everything else dropped.
func slugify(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func TestSlugifyFollowsGitHub(t *testing.T) {
	for heading, want := range map[string]string{
		"The way back (Scylla to crdt or raft)":              "the-way-back-scylla-to-crdt-or-raft",
		"What replaces upstream's full-pinset loops":         "what-replaces-upstreams-full-pinset-loops",
		"The `state.scyllastate` section":                    "the-statescyllastate-section",
		"Replication: `dc_replication` at keyspace creation": "replication-dc_replication-at-keyspace-creation",
		"`ipfs-cluster-service scylla check`":                "ipfs-cluster-service-scylla-check",
	} {
		if got := slugify(heading); got != want {
			t.Errorf("slugify(%q) = %q, want %q", heading, got, want)
		}
	}
}
