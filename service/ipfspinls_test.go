package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/ipfsconn/ipfshttp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// kuboPins serves kubo's streaming pin/ls: the pins of the type asked.
func kuboPins(t *testing.T, pins map[string][]api.Cid) ma.Multiaddr {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v0/pin/ls" {
			http.Error(w, "not served by this test", http.StatusNotFound)
			return
		}
		enc := json.NewEncoder(w)
		typ := r.URL.Query().Get("type")
		for _, c := range pins[typ] {
			_ = enc.Encode(map[string]string{"Cid": c.String(), "Type": typ})
		}
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/%s", host, port))
}

// The tracker's statuses and the numpin informer ask IPFS for its
// recursive and direct pins in one call: every pin of both types must be
// listed (upstream's connector lists the first type only, so a direct
// pin showed as unexpectedly_unpinned).
func TestPinLsListsEveryTypeAskedFor(t *testing.T) {
	rec, dir := []api.Cid{statetest.Cid(1), statetest.Cid(2)}, []api.Cid{statetest.Cid(3)}
	cfg := &ipfshttp.Config{}
	_ = cfg.Default()
	cfg.NodeAddr = kuboPins(t, map[string][]api.Cid{"recursive": rec, "direct": dir})
	conn, err := ipfshttp.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	list := func(types ...string) map[string]string {
		out := make(chan api.IPFSPinInfo, 16)
		errc := make(chan error, 1)
		go func() { errc <- pinLsEachType{conn}.PinLs(ctx, types, out) }()
		got := map[string]string{}
		for pi := range out {
			got[pi.Cid.String()] = pi.Type.String()
		}
		if err := <-errc; err != nil {
			t.Fatalf("PinLs(%v): %v", types, err)
		}
		return got
	}
	got := list("recursive", "direct")
	want := map[string]string{rec[0].String(): "recursive", rec[1].String(): "recursive", dir[0].String(): "direct"}
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Errorf("PinLs(recursive, direct) listed %v, want %v", got, want)
	}
	if got := list("direct"); len(got) != 1 || got[dir[0].String()] != "direct" {
		t.Errorf("PinLs(direct) listed %v, want the direct pin only", got)
	}
}

func sorted(m map[string]string) []string {
	var s []string
	for k, v := range m {
		s = append(s, k+"="+v)
	}
	sort.Strings(s)
	return s
}
