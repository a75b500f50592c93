// Package scyllacheck diagnoses, read-only, the database of a Scylla
// peer: `ipfs-cluster-service scylla check`. Gather probes every contact
// point, tells ScyllaDB from Cassandra (on ScyllaDB: the driver's shard
// awareness and each node's shard-aware port, the keyspace's tablets or
// vnodes) and reads the keyspace (replication, tables, schema version), a
// few pin rows (latency) and the change feed (its layout, newest event,
// the peers' feed positions and writer heartbeats); Analyze turns those
// facts into findings (OK, INFO, WARN, FAIL), each with a hint of what to
// do; a Report renders them for people (WriteText) or machines
// (WriteJSON) with a verdict. Nothing here writes to the database.
package scyllacheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status string

// Statuses, from best to worst. Only WARN and FAIL count in the verdict.
const (
	OK   Status = "OK"
	Info Status = "INFO" // worth knowing, nothing to fix
	Skip Status = "SKIP" // not checked: an earlier check failed
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Sections, in the order of the report.
const (
	SectionConfig   = "config"
	SectionHosts    = "hosts"
	SectionCluster  = "cluster"
	SectionServer   = "server"
	SectionKeyspace = "keyspace"
	SectionSchema   = "schema"
	SectionReads    = "reads"
	SectionFeed     = "feed"
)

var sectionOrder = []string{SectionConfig, SectionHosts, SectionCluster, SectionServer, SectionKeyspace, SectionSchema, SectionReads, SectionFeed}

var sectionTitles = map[string]string{
	SectionConfig:   "Configuration",
	SectionHosts:    "Hosts",
	SectionCluster:  "Cluster",
	SectionServer:   "Server",
	SectionKeyspace: "Keyspace",
	SectionSchema:   "Schema",
	SectionReads:    "Reads",
	SectionFeed:     "Change feed",
}

// Finding is one line of the report.
type Finding struct {
	// Section groups findings (SectionHosts, ...).
	Section string `json:"section"`
	// Check names what was checked, stable for machines: "reach",
	// "tls", "login", "data_center", "clock", "replication", ...
	Check string `json:"check"`
	// Subject is what the finding is about: a host, a data center, a
	// peer ID; empty for the keyspace as a whole.
	Subject string `json:"subject,omitempty"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	// Hint says what to do, for WARN and FAIL.
	Hint string `json:"hint,omitempty"`
}

// Report is the result of a check.
type Report struct {
	// Verdict is OK, WARN (some warnings, no failure) or FAIL.
	Verdict   Status    `json:"verdict"`
	Failures  int       `json:"failures"`
	Warnings  int       `json:"warnings"`
	CheckedAt time.Time `json:"checked_at"`
	Keyspace  string    `json:"keyspace"`
	// Hosts are the configured contact points.
	Hosts    []string  `json:"hosts"`
	Findings []Finding `json:"findings"`
	// Facts are the measurements behind the findings (see FactsJSON).
	Facts *FactsJSON `json:"facts,omitempty"`
}

// NewReport counts the findings and sets the verdict.
func NewReport(keyspace string, hosts []string, at time.Time, findings []Finding) *Report {
	r := &Report{CheckedAt: at.UTC(), Keyspace: keyspace, Hosts: append([]string{}, hosts...), Findings: findings}
	for _, f := range findings {
		switch f.Status {
		case Fail:
			r.Failures++
		case Warn:
			r.Warnings++
		}
	}
	r.Verdict = OK
	switch {
	case r.Failures > 0:
		r.Verdict = Fail
	case r.Warnings > 0:
		r.Verdict = Warn
	}
	return r
}

// Exit codes of `scylla check`.
const (
	ExitOK   = 0 // OK, or WARN without --strict
	ExitFail = 1 // FAIL
	ExitWarn = 2 // WARN with --strict
)

// ExitCode is the exit status for the verdict: ExitFail on FAIL,
// ExitWarn on WARN when strict, else ExitOK.
func (r *Report) ExitCode(strict bool) int {
	switch {
	case r.Verdict == Fail:
		return ExitFail
	case r.Verdict == Warn && strict:
		return ExitWarn
	}
	return ExitOK
}

// VerdictLine is the last line of the human report: "scylla check: OK",
// "scylla check: WARN (2 warnings)", "scylla check: FAIL (1 failure, 2
// warnings)".
func (r *Report) VerdictLine() string {
	var parts []string
	if r.Failures > 0 {
		parts = append(parts, plural(r.Failures, "failure"))
	}
	if r.Warnings > 0 {
		parts = append(parts, plural(r.Warnings, "warning"))
	}
	line := "scylla check: " + string(r.Verdict)
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ANSI colours of the statuses, used only on a terminal.
var colours = map[Status]string{OK: "\x1b[32m", Info: "\x1b[36m", Skip: "\x1b[2m", Warn: "\x1b[33m", Fail: "\x1b[31m"}

const colourReset = "\x1b[0m"

// maxSubject is the widest subject aligned in a column (peer IDs are
// longer and printed as they are).
const maxSubject = 24

// WriteText writes the human report: a header, the findings by section
// (status, subject, message, and the hint of warnings and failures), and
// the verdict line. colour adds ANSI colours (for a terminal only).
func (r *Report) WriteText(w io.Writer, colour bool) error {
	b := &strings.Builder{}
	if r.Keyspace != "" {
		fmt.Fprintf(b, "scylla check of keyspace %s on %s at %s\n", r.Keyspace, strings.Join(r.Hosts, ", "), r.CheckedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintf(b, "scylla check at %s\n", r.CheckedAt.Format(time.RFC3339))
	}
	paint := func(s Status, text string) string {
		if !colour {
			return text
		}
		return colours[s] + text + colourReset
	}
	bySection := map[string][]Finding{}
	for _, f := range r.Findings {
		bySection[f.Section] = append(bySection[f.Section], f)
	}
	for _, sec := range sectionOrder {
		fs := bySection[sec]
		if len(fs) == 0 {
			continue
		}
		// Subjects are aligned in a column, up to maxSubject characters.
		width := 0
		for _, f := range fs {
			if len(f.Subject) <= maxSubject {
				width = max(width, len(f.Subject))
			}
		}
		fmt.Fprintf(b, "\n%s\n", sectionTitles[sec])
		for _, f := range fs {
			status := paint(f.Status, fmt.Sprintf("%-4s", f.Status))
			if f.Subject != "" {
				fmt.Fprintf(b, "  %s  %-*s  %s\n", status, width, f.Subject, f.Message)
			} else {
				fmt.Fprintf(b, "  %s  %s\n", status, f.Message)
			}
			if f.Hint != "" && (f.Status == Warn || f.Status == Fail) {
				fmt.Fprintf(b, "        hint: %s\n", f.Hint)
			}
		}
	}
	fmt.Fprintf(b, "\n%s\n", paint(r.Verdict, r.VerdictLine()))
	_, err := io.WriteString(w, b.String())
	return err
}
