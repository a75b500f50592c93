package main

import (
	"fmt"
	"strings"
)

// phaseBar draws the phases of `state migrate` on stderr (a terminal),
// one bar per phase, with the ticker of progress.go.
type phaseBar struct {
	cur *progress
}

func (b *phaseBar) Phase(name string, total int64) {
	format, unit := func(n int64) string { return fmt.Sprint(n) }, "pins"
	if name == "copy" {
		format, unit = func(n int64) string { return fmt.Sprintf("%.1f", mib(n)) }, "MiB"
	}
	b.cur = startProgress(func(n int64) string { return barLine(name, n, total, format, unit) })
}

func (b *phaseBar) Add(n int64) {
	if b.cur != nil {
		b.cur.count.Add(n)
	}
}

func (b *phaseBar) Done() {
	if b.cur != nil {
		b.cur.finish()
		b.cur = nil
	}
}

const barWidth = 30

// barLine renders "label [=====>    ] n of total unit (p%)", or
// "label n unit" when the total is unknown.
func barLine(label string, n, total int64, format func(int64) string, unit string) string {
	if total <= 0 {
		return fmt.Sprintf("%-7s %s %s", label, format(n), unit)
	}
	n = min(max(n, 0), total)
	filled := int(n * barWidth / total)
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	return fmt.Sprintf("%-7s [%s] %s of %s %s (%d%%)", label, bar, format(n), format(total), unit, n*100/total)
}
