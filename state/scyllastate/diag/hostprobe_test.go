package diag

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestClusterNodesPrefersEachNodesOwnViewAndOrdersByDataCenter(t *testing.T) {
	a := Node{Address: "10.0.0.2", HostID: "a", DataCenter: "dc2", ReleaseVersion: "5.0"}
	b := Node{Address: "10.0.0.1", HostID: "b", DataCenter: "dc1", ReleaseVersion: "5.0"}
	stale := a
	stale.ReleaseVersion = "4.1" // what b's system.peers still says of a
	reports := []HostReport{
		{Host: "10.0.0.1", Local: b, Peers: []Node{stale, {Address: "10.0.0.9"}}}, // a removed node's partial row
		{Host: "10.0.0.2", Local: a, Peers: []Node{b}},
		{Host: "10.0.0.3", DialErr: errors.New("refused")},
	}
	got := ClusterNodes(reports)
	if len(got) != 2 || got[0].HostID != "b" || got[1].HostID != "a" || got[1].ReleaseVersion != "5.0" {
		t.Fatalf("nodes %+v, want b (dc1) then a (dc2) as a describes itself", got)
	}
}

func TestTLSFailuresAreExplainedByTheSettingToCheck(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string
	}{
		"unknown authority": {x509.UnknownAuthorityError{}, "tls.ca_file"},
		"plain server":      {fmt.Errorf("tls: first record does not look like a TLS handshake"), "does not speak TLS"},
		"no answer":         {context.DeadlineExceeded, "connect_timeout"},
	}
	for name, c := range cases {
		if got := tlsExplanation(c.err); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want it to mention %q", name, got, c.want)
		}
	}
}
