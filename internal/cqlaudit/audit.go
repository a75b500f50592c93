package cqlaudit

import (
	"fmt"
	"sort"
	"strings"
)

// Rules broken by a statement.
const (
	RuleConditional    = "conditional"     // a lightweight transaction
	RuleAllowFiltering = "allow-filtering" // ALLOW FILTERING
	RuleRangeRead      = "range-read"      // a SELECT that does not fix the partition key
	RuleBatchTimeout   = "batch-timeout"   // USING TIMEOUT in a batch
	RuleClauseOrder    = "clause-order"    // ScyllaDB's SELECT clauses out of order
	RuleUndocumented   = "undocumented"    // not in docs/cql.md
)

// Violation is a statement that breaks a rule.
type Violation struct {
	Rule      string
	Statement string // normalised
	InBatch   bool
	Detail    string
	// Use is what the recorder knows of the statement (count, caller);
	// nil for a statement checked on its own.
	Use *Use
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", v.Rule, v.Statement)
	if v.InBatch {
		b.WriteString("  (in a batch)")
	}
	fmt.Fprintf(&b, "\n      %s", v.Detail)
	if v.Use != nil {
		fmt.Fprintf(&b, "\n      sent %d time(s)", v.Use.Count)
		if v.Use.Caller != "" {
			fmt.Fprintf(&b, ", first by %s", v.Use.Caller)
		}
	}
	return b.String()
}

// Auditor checks statements against the rules and the catalogue.
type Auditor struct {
	// Catalogue lists the statements allowed (docs/cql.md).
	Catalogue *Catalogue
	// PartitionKeys are the partition key columns of every table of the
	// keyspace, by table (PartitionKeys).
	PartitionKeys map[string][]string
	// UpgradeTables are the tables that the statement marked range=upgrade
	// may read whole.
	UpgradeTables map[string]bool
}

// Check returns the rules a normalised statement breaks (sent in a batch
// when inBatch).
func (a *Auditor) Check(stmt string, inBatch bool) []Violation {
	var out []Violation
	add := func(rule, detail string) {
		out = append(out, Violation{Rule: rule, Statement: stmt, InBatch: inBatch, Detail: detail})
	}
	entry := a.Catalogue.Lookup(stmt)
	if entry == nil {
		add(RuleUndocumented, "not listed in docs/cql.md: document it (table, partition key, consistency, idempotence, why) or do not send it")
	}
	out = append(out, a.rules(stmt, inBatch, entry)...)
	return out
}

// rules checks every rule but the catalogue's.
func (a *Auditor) rules(stmt string, inBatch bool, entry *Entry) []Violation {
	var out []Violation
	add := func(rule, detail string) {
		out = append(out, Violation{Rule: rule, Statement: stmt, InBatch: inBatch, Detail: detail})
	}
	st := parse(stmt)
	if st.conditional() {
		add(RuleConditional, "a conditional write (IF NOT EXISTS / IF EXISTS / IF <condition>) is a lightweight transaction: ScyllaDB refuses it on keyspaces with tablets")
	}
	if st.allowFiltering() {
		add(RuleAllowFiltering, "ALLOW FILTERING reads and discards rows on the server: restrict the partition key instead")
	}
	if inBatch && st.hasTimeout() {
		add(RuleBatchTimeout, "ScyllaDB refuses USING TIMEOUT on a statement inside a batch")
	}
	if why := st.scyllaClauseOrder(); why != "" {
		add(RuleClauseOrder, why)
	}
	if why := a.rangeRead(st, entry); why != "" {
		add(RuleRangeRead, why)
	}
	return out
}

// rangeRead tells why a SELECT is a range read that is not allowed, ""
// when it is not one or is allowed.
func (a *Auditor) rangeRead(st statement, entry *Entry) string {
	if st.verb != "SELECT" || systemKeyspace(st.keyspace) {
		return ""
	}
	pk, ok := a.PartitionKeys[st.table]
	if !ok {
		return fmt.Sprintf("table %q is not in the schema: cannot tell whether the read is confined to partitions", st.table)
	}
	w := st.where()
	var loose []string
	for _, c := range pk {
		if !w.fixed[c] {
			loose = append(loose, c)
		}
	}
	switch {
	case w.token:
		if entry != nil && entry.Range == RangeToken {
			return ""
		}
		return fmt.Sprintf("reads a token range of %s: only the token-range lister (range=token in docs/cql.md) may", st.table)
	case len(loose) > 0:
		if entry != nil && entry.Range == RangeUpgrade && a.UpgradeTables[st.table] {
			return ""
		}
		return fmt.Sprintf("does not fix the partition key (%s) of %s with = or IN: it reads a range of partitions (only the upgrade-only copy, range=upgrade, may, and only of %s)",
			strings.Join(loose, ", "), st.table, strings.Join(sortedKeys(a.UpgradeTables), ", "))
	}
	return ""
}

// CheckCatalogue checks the statements of the catalogue themselves (each
// variant), as if each were sent on its own, and the range= marks: the
// token-range lister must read token ranges, the upgrade copy a whole
// UpgradeTables table.
func (a *Auditor) CheckCatalogue() []Violation {
	var out []Violation
	for _, e := range a.Catalogue.Entries {
		for _, v := range e.Variants() {
			out = append(out, a.rules(v, false, e)...)
		}
		st := parse(e.Statement)
		switch e.Range {
		case RangeToken:
			if st.verb != "SELECT" || !st.where().token {
				out = append(out, Violation{Rule: RuleRangeRead, Statement: e.Statement,
					Detail: fmt.Sprintf("docs/cql.md line %d marks it range=token but it reads no token range", e.Line)})
			}
		case RangeUpgrade:
			if st.verb != "SELECT" || !a.UpgradeTables[st.table] {
				out = append(out, Violation{Rule: RuleRangeRead, Statement: e.Statement,
					Detail: fmt.Sprintf("docs/cql.md line %d marks it range=upgrade but it is no read of %s", e.Line, strings.Join(sortedKeys(a.UpgradeTables), ", "))})
			}
		}
	}
	return out
}

// Audit checks every statement a recorder saw.
func (a *Auditor) Audit(uses []Use) []Violation {
	var out []Violation
	for i := range uses {
		u := &uses[i]
		for _, v := range a.Check(u.Statement, u.InBatch) {
			v.Use = u
			out = append(out, v)
		}
	}
	return out
}

// Unused returns the statements of the catalogue that no use matches
// (not exercised, or sent on the other server kind only).
func (a *Auditor) Unused(uses []Use) []string {
	seen := map[*Entry]bool{}
	for _, u := range uses {
		if e := a.Catalogue.Lookup(u.Statement); e != nil {
			seen[e] = true
		}
	}
	var out []string
	for _, e := range a.Catalogue.Entries {
		if !seen[e] {
			out = append(out, e.Statement)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
