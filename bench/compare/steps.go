package main

import (
	"context"
	"fmt"
)

// step is one phase of a scenario: the result keys it sets, and whether
// the phases after it need it.
type step struct {
	name     string
	keys     []string
	fn       func(context.Context) error
	critical bool
}

// runSteps runs the steps in order. A step that fails marks its keys
// missed (failed or timeout) for backend be at size, notes the error
// (prefixed by label) and reports it through progress; a critical one
// ends the run. It returns an error only when ctx ends.
func (h *harness) runSteps(ctx context.Context, be string, size int, label string, progress func(string, ...any), steps []step) error {
	for _, st := range steps {
		err := st.fn(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		why := "failed"
		if isTimeout(err) {
			why = "timeout"
		}
		for _, k := range st.keys {
			h.run.miss(be, size, k, why)
		}
		h.run.note(fmt.Sprintf("%s: %s: %v", label, st.name, err))
		progress("%s FAILED: %v", st.name, err)
		if st.critical {
			return nil
		}
	}
	return nil
}
