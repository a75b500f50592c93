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

// listenPaths are the service.json keys whose multiaddresses a peer
// listens on.
var listenPaths = []string{
	"cluster.listen_multiaddress",
	"api.restapi.http_listen_multiaddress",
	"api.pinsvcapi.http_listen_multiaddress",
	"api.ipfsproxy.listen_multiaddress",
}

var portRE = regexp.MustCompile(`/(tcp|udp)/([0-9]+)`)

// MovePorts gives every listen address of a service.json (listenPaths) a
// port from next, the same new port wherever the same old one was (the
// swarm's TCP and QUIC addresses share one).
func MovePorts(c map[string]any, next func() (int, error)) error {
	moved := map[string]string{}
	var err error
	move := func(s string) string {
		return portRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := portRE.FindStringSubmatch(m)
			if _, ok := moved[sub[2]]; !ok && err == nil {
				var n int
				if n, err = next(); err == nil {
					moved[sub[2]] = strconv.Itoa(n)
				}
			}
			if to, ok := moved[sub[2]]; ok {
				return "/" + sub[1] + "/" + to
			}
			return m
		})
	}
	for _, path := range listenPaths {
		switch v := jsonconf.Get(c, path).(type) {
		case string:
			jsonconf.Set(c, path, move(v))
		case []any:
			for i := range v {
				if s, ok := v[i].(string); ok {
					v[i] = move(s)
				}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("moving the listen ports: %w", err)
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
