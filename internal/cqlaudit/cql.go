package cqlaudit

import (
	"regexp"
	"strings"
)

// Placeholders that Normalize puts in place of what differs between runs.
const (
	KeyspacePlaceholder    = "<keyspace>"
	TimeoutPlaceholder     = "<timeout>"
	ReplicationPlaceholder = "<replication>"
)

var (
	// testKeyspaceRe matches the keyspaces of internal/cqltest
	// (cqltest.Keyspace: "t_" and 12 hex digits).
	testKeyspaceRe = regexp.MustCompile(`\bt_[0-9a-f]{12}\b`)
	timeoutRe      = regexp.MustCompile(`(?i)\bTIMEOUT\s+[0-9]+(ms|s|m|h)?\b`)
	replicationRe  = regexp.MustCompile(`(?i)\bWITH\s+replication\s*=\s*\{[^}]*\}`)
)

// Normalize puts a statement in the form docs/cql.md lists it in:
// whitespace collapsed to single spaces, no final semicolon, the test
// keyspace (internal/cqltest's "t_" and 12 hex digits) replaced by
// <keyspace>, the value of a ScyllaDB USING TIMEOUT by <timeout>, and the
// replication map of CREATE KEYSPACE by <replication>.
func Normalize(stmt string) string {
	s := strings.Join(strings.Fields(stmt), " ")
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	s = testKeyspaceRe.ReplaceAllString(s, KeyspacePlaceholder)
	s = timeoutRe.ReplaceAllString(s, "TIMEOUT "+TimeoutPlaceholder)
	s = replicationRe.ReplaceAllString(s, "WITH replication = "+ReplicationPlaceholder)
	return s
}

// tokenize cuts a statement into tokens: identifiers and keywords,
// numbers, string literals (kept whole, quotes included), quoted
// identifiers, placeholders (<keyspace>) and operators.
func tokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(s) {
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c { // doubled quote: escaped
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(s))
			out = append(out, s[i:end])
			i = end
		case c == '<' && placeholderAt(s[i:]) > 0:
			n := placeholderAt(s[i:])
			out = append(out, s[i:i+n])
			i += n
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			if i+1 < len(s) && (s[i:i+2] == "<=" || s[i:i+2] == ">=" || s[i:i+2] == "!=") {
				out = append(out, s[i:i+2])
				i += 2
				continue
			}
			out = append(out, s[i:i+1])
			i++
		}
	}
	return out
}

// placeholderAt returns the length of the placeholder s starts with
// (<keyspace>, <timeout>, ...), 0 when none.
func placeholderAt(s string) int {
	for _, p := range []string{KeyspacePlaceholder, TimeoutPlaceholder, ReplicationPlaceholder} {
		if strings.HasPrefix(s, p) {
			return len(p)
		}
	}
	return 0
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func is(tok, keyword string) bool { return strings.EqualFold(tok, keyword) }

// indexOf returns the index of the first token equal to keyword (case
// insensitive) at parenthesis depth 0 from index from on, or -1.
func indexOf(toks []string, from int, keyword string) int {
	depth := 0
	for i := from; i < len(toks); i++ {
		switch toks[i] {
		case "(", "{", "[":
			depth++
		case ")", "}", "]":
			depth--
		}
		if depth == 0 && is(toks[i], keyword) {
			return i
		}
	}
	return -1
}

// statement is what the rules need to know of a statement.
type statement struct {
	text string
	toks []string
	verb string // upper case: SELECT, INSERT, UPDATE, DELETE, BEGIN, CREATE, ...
	// keyspace and table of the statement's table, lower case; keyspace
	// is "" when the table is not qualified.
	keyspace, table string
}

func parse(text string) statement {
	st := statement{text: text, toks: tokenize(text)}
	if len(st.toks) == 0 {
		return st
	}
	st.verb = strings.ToUpper(st.toks[0])
	at := -1
	switch st.verb {
	case "SELECT", "DELETE":
		if i := indexOf(st.toks, 1, "FROM"); i >= 0 {
			at = i + 1
		}
	case "INSERT":
		if i := indexOf(st.toks, 1, "INTO"); i >= 0 {
			at = i + 1
		}
	case "UPDATE":
		at = 1
	case "CREATE", "ALTER", "DROP", "TRUNCATE":
		// CREATE TABLE [IF NOT EXISTS] name, ALTER TABLE name, ...
		at = 2
		if at < len(st.toks) && is(st.toks[at], "IF") {
			for at < len(st.toks) && !is(st.toks[at], "EXISTS") {
				at++
			}
			at++
		}
		if st.verb == "TRUNCATE" {
			at = 1
			if at < len(st.toks) && is(st.toks[at], "TABLE") {
				at++
			}
		}
	}
	if st.verb == "CREATE" || st.verb == "ALTER" || st.verb == "DROP" {
		if len(st.toks) > 1 && !is(st.toks[1], "TABLE") {
			at = -1 // a keyspace, type, index...: no table
		}
	}
	if at >= 0 && at < len(st.toks) {
		name := st.toks[at]
		if at+2 < len(st.toks) && st.toks[at+1] == "." {
			st.keyspace, name = strings.ToLower(name), st.toks[at+2]
		}
		st.table = strings.ToLower(strings.Trim(name, `"`))
	}
	return st
}

// dml tells whether the statement writes data (INSERT, UPDATE, DELETE or
// a textual BATCH).
func (st statement) dml() bool {
	switch st.verb {
	case "INSERT", "UPDATE", "DELETE", "BEGIN":
		return true
	}
	return false
}

// conditional tells whether a data statement carries a condition (IF NOT
// EXISTS, IF EXISTS or IF <condition>): a lightweight transaction.
func (st statement) conditional() bool {
	if !st.dml() {
		return false
	}
	for _, t := range st.toks {
		if is(t, "IF") {
			return true
		}
	}
	return false
}

// allowFiltering tells whether the statement asks for ALLOW FILTERING.
func (st statement) allowFiltering() bool {
	for i := 0; i+1 < len(st.toks); i++ {
		if is(st.toks[i], "ALLOW") && is(st.toks[i+1], "FILTERING") {
			return true
		}
	}
	return false
}

// systemKeyspace tells whether a keyspace is one of the server's own.
func systemKeyspace(ks string) bool {
	return ks == "system" || strings.HasPrefix(ks, "system_")
}

// where describes the WHERE clause of a SELECT.
type where struct {
	fixed map[string]bool // columns restricted by = or IN
	token bool            // a token(...) restriction
}

// whereEnd are the clauses that may follow WHERE in a SELECT.
var whereEnd = []string{"GROUP", "ORDER", "PER", "LIMIT", "ALLOW", "BYPASS", "USING"}

func (st statement) where() where {
	w := where{fixed: map[string]bool{}}
	i := indexOf(st.toks, 0, "WHERE")
	if i < 0 {
		return w
	}
	end := len(st.toks)
	for _, kw := range whereEnd {
		if j := indexOf(st.toks, i+1, kw); j >= 0 && j < end {
			end = j
		}
	}
	rel := []string{}
	flush := func() {
		switch {
		case len(rel) >= 2 && is(rel[0], "token") && rel[1] == "(":
			w.token = true
		case len(rel) >= 2 && (rel[1] == "=" || is(rel[1], "IN")):
			w.fixed[strings.ToLower(strings.Trim(rel[0], `"`))] = true
		}
		rel = rel[:0]
	}
	depth := 0
	for _, t := range st.toks[i+1 : end] {
		switch t {
		case "(", "{", "[":
			depth++
		case ")", "}", "]":
			depth--
		}
		if depth == 0 && is(t, "AND") {
			flush()
			continue
		}
		rel = append(rel, t)
	}
	flush()
	return w
}

// scyllaClauseOrder returns what is wrong with the order of the ScyllaDB
// clauses of a SELECT (BYPASS CACHE, then USING TIMEOUT, both last), ""
// when nothing is.
func (st statement) scyllaClauseOrder() string {
	if st.verb != "SELECT" {
		return ""
	}
	if i := indexOf(st.toks, 0, "USING"); i >= 0 && i+3 != len(st.toks) {
		return "USING TIMEOUT must be the last clause of a SELECT on ScyllaDB (after LIMIT, ALLOW FILTERING and BYPASS CACHE): anything after it is a syntax error"
	}
	if i := indexOf(st.toks, 0, "BYPASS"); i >= 0 {
		rest := st.toks[i+2:]
		if len(rest) != 0 && !(len(rest) == 3 && is(rest[0], "USING") && is(rest[1], "TIMEOUT")) {
			return "BYPASS CACHE must follow LIMIT and ALLOW FILTERING, and only USING TIMEOUT may follow it"
		}
	}
	return ""
}

// hasTimeout tells whether the statement carries ScyllaDB's USING
// TIMEOUT.
func (st statement) hasTimeout() bool {
	for i := 1; i < len(st.toks); i++ {
		if is(st.toks[i], "TIMEOUT") && (is(st.toks[i-1], "USING") || is(st.toks[i-1], "AND")) {
			return true
		}
	}
	return false
}
