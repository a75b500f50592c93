package scylla

import (
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// Only filters on statuses the database holds are answered from it: a
// filter that also asks for statuses only the trackers know (pinned,
// queued...), or none (the whole pinset), or cluster_error alone, goes to
// upstream's StatusAll.
func TestOnlyErrorFiltersAreAnsweredFromTheDatabase(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"error", true},
		{"pin_error", true},
		{"unpin_error", true},
		{"pin_error,unpin_error", true},
		{"cluster_error", false},
		{"", false},
		{"pinned", false},
		{"error,pinned", false},
		{"pin_error,queued", false},
	} {
		var f api.TrackerStatus
		if tc.filter != "" {
			f = api.TrackerStatusFromString(tc.filter)
			if f == api.TrackerStatusUndefined {
				t.Fatalf("bad filter %q in the test", tc.filter)
			}
		}
		if got := storedErrorFilter(f); got != tc.want {
			t.Errorf("filter %q answered from the database: %v, want %v", tc.filter, got, tc.want)
		}
	}
}
