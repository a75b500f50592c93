package scylla

import "testing"

// Every peer orders two changes of one CID the same way: by write
// timestamp, and on a tie the unpin wins, as in the pin row.
func TestChangesAreOrderedByTimestampThenUnpinFirst(t *testing.T) {
	for _, tc := range []struct {
		ts      int64
		present bool
		other   int64
		otherP  bool
		want    bool
	}{
		{2, true, 1, false, true},
		{1, false, 2, true, false},
		{5, false, 5, true, true},  // unpin after pin of the same timestamp
		{5, true, 5, false, false}, // pin not after unpin of the same timestamp
		{5, true, 5, true, false},  // the same change
		{5, false, 5, false, false},
	} {
		if got := orderedAfter(tc.ts, tc.present, tc.other, tc.otherP); got != tc.want {
			t.Errorf("orderedAfter(%d, %v, %d, %v) = %v, want %v", tc.ts, tc.present, tc.other, tc.otherP, got, tc.want)
		}
	}
}
