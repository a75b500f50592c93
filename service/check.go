package service

import "time"

// Defaults of `scylla check`.
const (
	// DefaultCheckReads is the number of reads of the latency probe.
	DefaultCheckReads = 5
	// DefaultCheckFeedWindow is how far back the newest change of the
	// feed is looked for.
	DefaultCheckFeedWindow = time.Hour
)

// CheckOptions are the flags of `ipfs-cluster-service scylla check`.
type CheckOptions struct {
	// JSON writes the report as JSON instead of text.
	JSON bool
	// Strict makes warnings fail (exit status 2).
	Strict bool
	// Colour colours the text report (only for a terminal).
	Colour bool
	// Reads is the number of reads of the latency probe (0:
	// DefaultCheckReads).
	Reads int
	// FeedWindow is how far back the newest event is looked for (0:
	// DefaultCheckFeedWindow).
	FeedWindow time.Duration
	// Timeout bounds the whole check (0: none beyond the per-call
	// timeouts of the configuration).
	Timeout time.Duration
}
