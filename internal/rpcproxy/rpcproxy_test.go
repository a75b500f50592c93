package rpcproxy

import (
	"context"
	"reflect"
	"testing"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/version"
	rpc "github.com/libp2p/go-libp2p-gorpc"
)

// Every method of every upstream RPC service has a forwarder of the same
// signature: a component given a proxied client can make every call it
// made before (else run go generate ./internal/rpcproxy).
func TestForwardersCoverUpstream(t *testing.T) {
	upstream := map[string]reflect.Type{
		"Cluster":       reflect.TypeOf(&ipfscluster.ClusterRPCAPI{}),
		"PinTracker":    reflect.TypeOf(&ipfscluster.PinTrackerRPCAPI{}),
		"IPFSConnector": reflect.TypeOf(&ipfscluster.IPFSConnectorRPCAPI{}),
		"Consensus":     reflect.TypeOf(&ipfscluster.ConsensusRPCAPI{}),
		"PeerMonitor":   reflect.TypeOf(&ipfscluster.PeerMonitorRPCAPI{}),
	}
	fwd := forwarders(nil)
	if len(fwd) != len(upstream) {
		t.Fatalf("%d forwarding services, want %d", len(fwd), len(upstream))
	}
	for name, ut := range upstream {
		ft := reflect.TypeOf(fwd[name])
		if ft == nil {
			t.Errorf("no forwarder for the %s service", name)
			continue
		}
		for i := 0; i < ut.NumMethod(); i++ {
			um := ut.Method(i)
			fm, ok := ft.MethodByName(um.Name)
			if !ok {
				t.Errorf("%s.%s is not forwarded", name, um.Name)
				continue
			}
			for j := 1; j < um.Type.NumIn(); j++ {
				if um.Type.In(j) != fm.Type.In(j) {
					t.Errorf("%s.%s argument %d: %s, upstream %s", name, um.Name, j, fm.Type.In(j), um.Type.In(j))
				}
			}
		}
	}
}

// testCluster stands for upstream's Cluster service behind the
// cluster's client.
type testCluster struct{}

func (testCluster) Version(ctx context.Context, in struct{}, out *api.Version) error {
	*out = api.Version{Version: "cluster"}
	return nil
}

func (testCluster) Pins(ctx context.Context, in <-chan struct{}, out chan<- api.Pin) error {
	defer close(out)
	for i := range 3 {
		out <- api.Pin{PinOptions: api.PinOptions{Name: string(rune('a' + i))}}
	}
	return nil
}

// overriddenVersion answers Version itself and forwards the rest.
type overriddenVersion struct{ *Cluster }

func (overriddenVersion) Version(ctx context.Context, in struct{}, out *api.Version) error {
	*out = api.Version{Version: "override"}
	return nil
}

// Calls through a proxied client reach the cluster's services (a call
// and a stream), but those of an override, which answers instead.
func TestCallsReachTheClusterButOverridesAnswerInstead(t *testing.T) {
	srv := rpc.NewServer(nil, version.RPCProtocol)
	if err := srv.RegisterName("Cluster", testCluster{}); err != nil {
		t.Fatal(err)
	}
	cluster := rpc.NewClientWithServer(nil, version.RPCProtocol, srv)
	ctx := context.Background()

	plain, err := NewClient(nil, cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v api.Version
	if err := plain.CallContext(ctx, "", "Cluster", "Version", struct{}{}, &v); err != nil || v.Version != "cluster" {
		t.Fatalf("Cluster.Version through the proxy: %q, %v; want the cluster's answer", v.Version, err)
	}
	in := make(chan struct{})
	close(in)
	out := make(chan api.Pin)
	errc := make(chan error, 1)
	go func() { errc <- plain.Stream(ctx, "", "Cluster", "Pins", in, out) }()
	var names string
	for p := range out {
		names += p.Name
	}
	if err := <-errc; err != nil || names != "abc" {
		t.Fatalf("Cluster.Pins through the proxy: %q, %v; want the 3 pins of the cluster", names, err)
	}

	over, err := NewClient(nil, cluster, map[string]any{"Cluster": overriddenVersion{NewCluster(cluster)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := over.CallContext(ctx, "", "Cluster", "Version", struct{}{}, &v); err != nil || v.Version != "override" {
		t.Fatalf("overridden Cluster.Version: %q, %v; want the override's answer", v.Version, err)
	}
	// A method the override does not redefine still reaches the cluster
	// (which has no ID here: its error comes back).
	var id api.ID
	if err := over.CallContext(ctx, "", "Cluster", "ID", struct{}{}, &id); err == nil {
		t.Fatal("Cluster.ID through the override: no error, want the cluster's (it has no such method)")
	}

	if _, err := NewClient(nil, cluster, map[string]any{"Clustr": overriddenVersion{}}); err == nil {
		t.Fatal("an override of an unknown service was accepted")
	}
}

// The cost the proxy adds to a call (the REST API's pin add makes one):
// compare BenchmarkCallDirect with BenchmarkCallThroughProxy.
func BenchmarkCallDirect(b *testing.B) {
	benchmarkCall(b, false)
}

func BenchmarkCallThroughProxy(b *testing.B) {
	benchmarkCall(b, true)
}

func benchmarkCall(b *testing.B, proxied bool) {
	srv := rpc.NewServer(nil, version.RPCProtocol)
	if err := srv.RegisterName("Cluster", testCluster{}); err != nil {
		b.Fatal(err)
	}
	client := rpc.NewClientWithServer(nil, version.RPCProtocol, srv)
	if proxied {
		var err error
		if client, err = NewClient(nil, client, nil); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var v api.Version
		if err := client.CallContext(ctx, "", "Cluster", "Version", struct{}{}, &v); err != nil {
			b.Fatal(err)
		}
	}
}
