package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGroupMeansAreTheCallsPerGroupSentBetweenTwoScrapes(t *testing.T) {
	body := `ipfscluster_scyllastate_group_size_sum{group="write"} %d
ipfscluster_scyllastate_group_size_count{group="write"} %d
ipfscluster_scyllastate_group_size_sum{group="read"} 7
ipfscluster_scyllastate_group_size_count{group="read"} 7
ipfscluster_scyllastate_group_size_bucket{group="write",le="1"} 999
`
	writes := [2]int{10, 10} // 10 calls in 10 groups before the phase
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, body, writes[0], writes[1])
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var p int
	fmt.Sscan(port, &p)

	before, err := scrapeGroups(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	writes = [2]int{10 + 300, 10 + 120} // the phase: 300 changes in 120 groups
	after, err := scrapeGroups(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	means := groupMeans(before, after)
	if got := means["write"]; got != 2.5 {
		t.Errorf("write: %v changes per group, want 2.5", got)
	}
	if _, ok := means["read"]; ok {
		t.Errorf("read sent no group during the phase, yet has a mean: %v", means["read"])
	}
	if _, ok := means["tracker_error"]; ok {
		t.Errorf("tracker_error has no series, yet has a mean: %v", means["tracker_error"])
	}
}
