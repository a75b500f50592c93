package cluster

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
)

// Loopback keeps a service.json's cluster swarm on loopback: its listen
// addresses on 127.0.0.1 (::1) instead of 0.0.0.0 (::), no mDNS, no relay
// service.
func Loopback(c map[string]any) {
	cl, ok := c["cluster"].(map[string]any)
	if !ok {
		return
	}
	lo := func(v any) any {
		s, ok := v.(string)
		if !ok {
			return v
		}
		if rest, ok := strings.CutPrefix(s, "/ip4/0.0.0.0/"); ok {
			return "/ip4/127.0.0.1/" + rest
		}
		if rest, ok := strings.CutPrefix(s, "/ip6/::/"); ok {
			return "/ip6/::1/" + rest
		}
		return s
	}
	switch v := cl["listen_multiaddress"].(type) {
	case []any:
		for i := range v {
			v[i] = lo(v[i])
		}
	default:
		cl["listen_multiaddress"] = lo(v)
	}
	cl["mdns_interval"] = "0s"
	cl["enable_relay_hop"] = false
}

// UseScylla points .state.scyllastate at the database on hosts:port and
// at keyspace.
func UseScylla(c map[string]any, keyspace string, hosts []string, port int) {
	jsonconf.Set(c, "state.scyllastate.keyspace", keyspace)
	jsonconf.Set(c, "state.scyllastate.hosts", hosts)
	jsonconf.Set(c, "state.scyllastate.port", port)
}

// UseIPFS makes the peer (and its IPFS proxy, if configured) use the kubo
// whose API is 127.0.0.1:apiPort.
func UseIPFS(c map[string]any, apiPort int) {
	ma := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", apiPort)
	jsonconf.Set(c, "ipfs_connector.ipfshttp.node_multiaddress", ma)
	if _, ok := jsonconf.Get(c, "api.ipfsproxy").(map[string]any); ok {
		jsonconf.Set(c, "api.ipfsproxy.node_multiaddress", ma)
	}
}

// Edit rewrites the peer's service.json through fn.
func (p *Peer) Edit(fn func(map[string]any)) error {
	if err := jsonconf.Edit(p.ConfigFile(), fn); err != nil {
		return fmt.Errorf("editing %s: %w", p.ConfigFile(), err)
	}
	return nil
}

var tcpRE = regexp.MustCompile(`/tcp/([0-9]+)`)

// firstTCP is the port of the first multiaddress of v (one or a list)
// that has one.
func firstTCP(v any) (int, bool) {
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	default:
		list = []any{v}
	}
	for _, a := range list {
		s, _ := a.(string)
		if m := tcpRE.FindStringSubmatch(s); m != nil {
			n, err := strconv.Atoi(m[1])
			return n, err == nil
		}
	}
	return 0, false
}

// port reads the TCP port of the multiaddress(es) at a dotted path of the
// peer's service.json.
func (p *Peer) port(path string) (int, error) {
	var c map[string]any
	if err := jsonconf.Read(p.ConfigFile(), &c); err != nil {
		return 0, err
	}
	n, ok := firstTCP(jsonconf.Get(c, path))
	if !ok {
		return 0, fmt.Errorf("no TCP port in .%s of %s", path, p.ConfigFile())
	}
	return n, nil
}

// RESTAPIPort is the port of the REST API (the first of
// .api.restapi.http_listen_multiaddress).
func (p *Peer) RESTAPIPort() (int, error) { return p.port("api.restapi.http_listen_multiaddress") }

// ID is the peer ID in identity.json.
func (p *Peer) ID() (string, error) {
	var ident struct {
		ID string `json:"id"`
	}
	path := p.Dir + "/identity.json"
	if err := jsonconf.Read(path, &ident); err != nil {
		return "", err
	}
	if ident.ID == "" {
		return "", fmt.Errorf("no id in %s", path)
	}
	return ident.ID, nil
}

// Addr is /ip4/127.0.0.1/tcp/PORT/p2p/ID, the address other peers take
// with --bootstrap or --peers.
func (p *Peer) Addr() (string, error) {
	port, err := p.port("cluster.listen_multiaddress")
	if err != nil {
		return "", err
	}
	id, err := p.ID()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, id), nil
}
