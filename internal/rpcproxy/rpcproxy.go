// Package rpcproxy gives a component of upstream's cluster an RPC client
// of its own whose local calls go to forwarders of every upstream RPC
// service (Cluster, PinTracker, IPFSConnector, Consensus, PeerMonitor),
// which pass them on to the cluster's client, but for the services given
// as overrides. Remote calls go to the cluster's peers as before. Thus a
// component built by upstream (the REST API) can have one of its calls
// answered differently without a copy of upstream's code.
//
// The forwarders (forward_gen.go) are generated from upstream's RPC API
// types: run `go generate ./internal/rpcproxy` after an upgrade of
// upstream; TestForwardersCoverUpstream fails until then.
package rpcproxy

//go:generate go run ./gen

import (
	"fmt"

	"github.com/ipfs-cluster/ipfs-cluster/version"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	host "github.com/libp2p/go-libp2p/core/host"
)

// NewClient returns a client whose calls to this peer (destination "" or
// h's ID) go to the forwarders, which pass them on to client, and whose
// calls to other peers go out through h (nil: local calls only).
// overrides replaces the forwarder of a service by name: a type that
// embeds the forwarder (*Cluster, ...) and redefines some of its methods.
func NewClient(h host.Host, client *rpc.Client, overrides map[string]any) (*rpc.Client, error) {
	// The server has no host: it serves this process's calls only.
	srv := rpc.NewServer(nil, version.RPCProtocol)
	services := forwarders(client)
	for name, svc := range overrides {
		if _, ok := services[name]; !ok {
			return nil, fmt.Errorf("rpcproxy: no upstream RPC service named %q to override", name)
		}
		services[name] = svc
	}
	for name, svc := range services {
		if err := srv.RegisterName(name, svc); err != nil {
			return nil, fmt.Errorf("rpcproxy: registering %s: %w", name, err)
		}
	}
	return rpc.NewClientWithServer(h, version.RPCProtocol, srv), nil
}

// NewCluster returns the forwarder of the Cluster service, for an
// override to embed.
func NewCluster(client *rpc.Client) *Cluster { return &Cluster{client} }

// NewIPFSConnector returns the forwarder of the IPFSConnector service,
// for an override to embed.
func NewIPFSConnector(client *rpc.Client) *IPFSConnector { return &IPFSConnector{client} }
