package scyllastate

import (
	"fmt"
	"testing"
)

// partsOf returns the distinct partitions of a batch.
func partsOf(b []stmt) map[uint64]bool {
	out := map[uint64]bool{}
	for _, st := range b {
		out[st.part] = true
	}
	return out
}

// A group's events spread over many partitions go in few batches (fewer
// requests), none over the partition, statement or byte limits, with
// every statement once and in order.
func TestChunkBatchesAcrossPartitions(t *testing.T) {
	var stmts []stmt
	for i := range 40 { // 40 partitions of 2 events each, 100 bytes each
		for range 2 {
			stmts = append(stmts, stmt{cql: fmt.Sprint(len(stmts)), size: 100, part: eventPart(7, int8(i))})
		}
	}
	batches := chunk(stmts)
	if len(batches) != 4 {
		t.Fatalf("80 events in 40 partitions: %d batches, want 4 of 10 partitions each", len(batches))
	}
	n := 0
	for i, b := range batches {
		if p := len(partsOf(b)); p > maxBatchPartitions {
			t.Errorf("batch %d covers %d partitions (limit %d)", i, p, maxBatchPartitions)
		}
		for _, st := range b {
			if st.cql != fmt.Sprint(n) {
				t.Fatalf("statement %s where %d was expected: order or count changed", st.cql, n)
			}
			n++
		}
	}
	if n != len(stmts) {
		t.Fatalf("%d statements in the batches, %d given", n, len(stmts))
	}
}

func TestChunkLimits(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		var stmts []stmt
		for range 10 { // one partition, 10 × 1000 bytes
			stmts = append(stmts, stmt{size: 1000, part: eventPart(1, 1)})
		}
		for i, b := range chunk(stmts) {
			size := 0
			for _, st := range b {
				size += st.size
			}
			if size > maxBatchBytes {
				t.Errorf("batch %d holds %d bytes (limit %d)", i, size, maxBatchBytes)
			}
		}
	})
	t.Run("statements", func(t *testing.T) {
		stmts := make([]stmt, 3*maxBatchStatements)
		for i := range stmts {
			stmts[i] = stmt{size: 1, part: eventPart(1, 1)}
		}
		if got := len(chunk(stmts)); got != 3 {
			t.Errorf("%d statements of one partition: %d batches, want 3", len(stmts), got)
		}
	})
	t.Run("an unpin's two statements stay together", func(t *testing.T) {
		var stmts []stmt
		for i := range 15 { // 15 unpins: 2 statements in one partition each
			p := rowPart([]byte{byte(i)})
			stmts = append(stmts, stmt{size: 30, part: p}, stmt{size: 40, part: p})
		}
		batches := chunk(stmts)
		for i, b := range batches {
			if len(b)%2 != 0 {
				t.Errorf("batch %d holds %d statements: an unpin was split", i, len(b))
			}
			if p := len(partsOf(b)); p > maxBatchPartitions {
				t.Errorf("batch %d covers %d partitions", i, p)
			}
		}
		if len(batches) != 2 {
			t.Errorf("15 unpins: %d batches, want 2", len(batches))
		}
	})
	t.Run("tables do not share partition identities", func(t *testing.T) {
		if eventPart(0, 0) == rowPart(nil) || rowPart(nil) == expiryPart(0) || eventPart(0, 0) == expiryPart(0) {
			t.Error("two tables' partitions have the same identity")
		}
	})
}
