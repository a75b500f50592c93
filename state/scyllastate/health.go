package scyllastate

import (
	"context"
	"errors"
	"sync"
	"time"
)

// unhealthyAfter is the number of consecutive failed database calls after
// which the store reports the database as failing.
const unhealthyAfter = 3

// health follows whether database calls succeed, for the
// database_healthy metric, a log line on each change, and Healthy.
type health struct {
	m *metrics

	mu       sync.Mutex
	failures int
	lastErr  error
	since    time.Time
}

func newHealth(m *metrics) *health { return &health{m: m, since: time.Now()} }

// record notes the outcome of a database call. A cancelled caller says
// nothing about the database.
func (h *health) record(err error) {
	if h == nil || errors.Is(err, context.Canceled) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		if h.failures >= unhealthyAfter {
			logger.Infof("database calls succeed again (failing since %s)", h.since.Format(time.RFC3339))
			if h.m != nil {
				h.m.healthy.Set(1)
			}
		}
		h.failures, h.lastErr = 0, nil
		return
	}
	h.failures++
	h.lastErr = err
	if h.failures == unhealthyAfter {
		h.since = time.Now()
		logger.Errorf("database calls are failing (%d in a row): %s", h.failures, err)
		if h.m != nil {
			h.m.healthy.Set(0)
		}
	}
}

// status tells whether database calls currently succeed, and if not the
// last error (see ScyllaState.Healthy).
func (h *health) status() (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures >= unhealthyAfter {
		return false, h.lastErr
	}
	return true, nil
}
