package main

import (
	"strings"
	"testing"
)

func TestSumSamplesAddsTheFeedReadsOfEveryStatus(t *testing.T) {
	text := `# HELP ipfscluster_scyllastate_operation_duration_seconds Latency
# TYPE ipfscluster_scyllastate_operation_duration_seconds histogram
ipfscluster_scyllastate_operation_duration_seconds_bucket{operation="events",status="success",le="0.001"} 3
ipfscluster_scyllastate_operation_duration_seconds_count{operation="events",status="success"} 120
ipfscluster_scyllastate_operation_duration_seconds_count{operation="events",status="error"} 2
ipfscluster_scyllastate_operation_duration_seconds_count{operation="get",status="success"} 900
ipfscluster_scyllastate_operation_duration_seconds_count_extra{operation="events"} 7
ipfscluster_scyllastate_operation_duration_seconds_sum{operation="events",status="success"} 0.5
`
	got, err := sumSamples(strings.NewReader(text), feedReadsMetric, feedReadsLabel)
	if err != nil || got != 122 {
		t.Errorf("sumSamples = %v, %v; want 122", got, err)
	}
	if got, _ := sumSamples(strings.NewReader(text), feedReadsMetric, ""); got != 1022 {
		t.Errorf("without a label filter: %v, want 1022", got)
	}
	if _, err := sumSamples(strings.NewReader(feedReadsMetric+`{operation="events"} x`+"\n"), feedReadsMetric, feedReadsLabel); err == nil {
		t.Error("a value that is not a number was accepted")
	}
}
