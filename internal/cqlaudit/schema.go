package cqlaudit

import (
	"fmt"
	"strings"
)

// PartitionKeys reads the partition key columns of every table created
// by the CREATE TABLE statements of the given CQL texts (.cql files;
// "--" comments are ignored), by table name, lower case. A table created
// twice with different partition keys is an error.
func PartitionKeys(texts ...string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, text := range texts {
		for _, raw := range splitCQL(text) {
			st := parse(Normalize(raw))
			if st.verb != "CREATE" || len(st.toks) < 2 || !is(st.toks[1], "TABLE") {
				continue
			}
			pk, err := partitionKey(st)
			if err != nil {
				return nil, err
			}
			if prev, ok := out[st.table]; ok && strings.Join(prev, ",") != strings.Join(pk, ",") {
				return nil, fmt.Errorf("table %s is created with partition key (%s) and (%s)", st.table, strings.Join(prev, ", "), strings.Join(pk, ", "))
			}
			out[st.table] = pk
		}
	}
	return out, nil
}

// splitCQL cuts a .cql text into statements at the semicolons outside
// string literals, after removing "--" comments.
func splitCQL(text string) []string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		lines = append(lines, line)
	}
	var out []string
	var cur strings.Builder
	quote := byte(0)
	for _, c := range []byte(strings.Join(lines, "\n")) {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// partitionKey reads the partition key of a CREATE TABLE: the first
// element of PRIMARY KEY (...), or the column declared PRIMARY KEY.
func partitionKey(st statement) ([]string, error) {
	toks := st.toks
	open := -1
	for i, t := range toks {
		if t == "(" {
			open = i
			break
		}
	}
	if open < 0 {
		return nil, fmt.Errorf("CREATE TABLE %s: no column list", st.table)
	}
	// The column definitions, split at the commas of depth 1.
	var defs [][]string
	var cur []string
	depth := 0
	for _, t := range toks[open:] {
		switch t {
		case "(", "<":
			depth++
			if depth == 1 {
				continue
			}
		case ")", ">":
			depth--
			if depth == 0 {
				defs = append(defs, cur)
				cur = nil
			}
		}
		if depth == 0 {
			break
		}
		if depth == 1 && t == "," {
			defs = append(defs, cur)
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	for _, d := range defs {
		if len(d) >= 3 && is(d[0], "PRIMARY") && is(d[1], "KEY") && d[2] == "(" {
			// PRIMARY KEY ((a, b), c) or PRIMARY KEY (a, c)
			rest := d[3:]
			if len(rest) > 0 && rest[0] == "(" {
				var cols []string
				for _, t := range rest[1:] {
					if t == ")" {
						return cols, nil
					}
					if t != "," {
						cols = append(cols, strings.ToLower(strings.Trim(t, `"`)))
					}
				}
				return nil, fmt.Errorf("CREATE TABLE %s: unterminated partition key", st.table)
			}
			if len(rest) > 0 {
				return []string{strings.ToLower(strings.Trim(rest[0], `"`))}, nil
			}
		}
	}
	for _, d := range defs {
		for i := 1; i+1 < len(d); i++ {
			if is(d[i], "PRIMARY") && is(d[i+1], "KEY") {
				return []string{strings.ToLower(strings.Trim(d[0], `"`))}, nil
			}
		}
	}
	return nil, fmt.Errorf("CREATE TABLE %s: no primary key", st.table)
}
