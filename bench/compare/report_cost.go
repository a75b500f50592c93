package main

import (
	"fmt"
	"slices"
	"strings"
)

// costPhases are the phases whose cost the report shows, peer and
// database side by side.
var costPhases = []struct{ Prefix, Label string }{
	{"import", "state import (the CLI)"},
	{"start", "first start (start window)"},
	{"ls", "REST pin ls"},
	{"idle", "idle (one state sync interval)"},
	{"add", "REST pin add, 1 peer"},
	{"join", "new peer joins (both peers, until its full pin ls)"},
	{"add3", "REST pin add, 3 peers (all 3)"},
	{"export", "state export (the CLI)"},
}

// costCell is "peer" or, with a database figure, "peer + database =
// total" of one backend.
func (r *Run) costCell(backend string, size int, peerKey, dbKey string) string {
	p, okP := r.value(backend, size, peerKey)
	d, okD := r.value(backend, size, dbKey)
	switch {
	case okP && okD:
		return fmt.Sprintf("%s + %s = %s", formatValue(p), formatValue(d), formatValue(p+d))
	case okP:
		return formatValue(p)
	case okD:
		return "? + " + formatValue(d)
	}
	if f, ok := r.get(backend, size, peerKey); ok && f.Missing != "" {
		return f.Missing
	}
	return "—"
}

// renderCost writes the table of what each phase cost at one size: CPU
// and peak RSS of the peers and, for ours, of the database next to them.
func renderCost(b *strings.Builder, r *Run, size int, heading string) {
	var rows []string
	for _, ph := range costPhases {
		kpc, kdc, kpr, kdr := costKeys(ph.Prefix)
		if !slices.ContainsFunc(r.Backends, func(be string) bool { _, ok := r.get(be, size, kpc); return ok }) {
			continue
		}
		var row strings.Builder
		fmt.Fprintf(&row, "| %s |", ph.Label)
		for _, be := range r.Backends {
			fmt.Fprintf(&row, " %s |", r.costCell(be, size, kpc, kdc))
		}
		for _, be := range r.Backends {
			fmt.Fprintf(&row, " %s |", r.costCell(be, size, kpr, kdr))
		}
		rows = append(rows, row.String())
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%sWhat each phase cost at %s pins: peer + database\n\n", heading, sizeLabel(size))
	b.WriteString("| phase |")
	for _, be := range r.Backends {
		fmt.Fprintf(b, " %s CPU s |", be)
	}
	for _, be := range r.Backends {
		fmt.Fprintf(b, " %s peak RSS MiB |", be)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", 2*len(r.Backends)) + "\n")
	for _, row := range rows {
		b.WriteString(row + "\n")
	}
	b.WriteString("\nCPU: user + system time of the peer processes (of the CLI for import and export) and of the database process " +
		"over the phase, not net of the database's baseline. RSS: peak of the peers' summed RSS and peak of the database's " +
		"(their sum is an upper bound of the two together). crdt and raft use no database.\n")
}
