package cqlproxy

import (
	"net"
	"strconv"

	"github.com/gocql/gocql"
)

// ConfigureCluster points a gocql cluster configuration at the proxy so
// that every connection of the session, control connection included, goes
// through it:
//
//   - Hosts is the proxy's IP and Port its port.
//   - ProtoVersion is 4: the proxy cannot parse v5. gocql negotiates v4
//     by default anyway (it tries v4 first), so this only guards against
//     a later default.
//   - AddressTranslator maps the proxied node to the proxy wherever the
//     driver learns its address (see AddressTranslator). gocql v1.17
//     already keeps the node its control connection reached under the
//     address it dialled (the proxy), but would take a node's advertised
//     address from system.peers, e.g. after its control connection moved
//     to another node of a cluster. Other nodes are left alone: the
//     driver connects to them directly.
//   - DisableShardAwarePort: against Scylla, gocql would otherwise open
//     its pool on the node's shard-aware port, bypassing the proxy.
//
// Host discovery and token-aware routing stay enabled.
func (p *Proxy) ConfigureCluster(c *gocql.ClusterConfig) {
	c.Hosts = []string{p.Host()}
	c.Port = p.Port()
	c.ProtoVersion = maxVersion
	c.AddressTranslator = p.AddressTranslator()
	c.DisableShardAwarePort = true
}

// AddressTranslator returns a gocql address translator that maps the
// node behind the proxy to the proxy: an address whose IP is one of the
// target's and whose port is the target's (system.peers) or the proxy's
// (the contact point, and system.local, which gocql gives the configured
// Port). Other addresses are returned unchanged. The target's host name
// is resolved once, now.
func (p *Proxy) AddressTranslator() gocql.AddressTranslator {
	host, portStr, _ := net.SplitHostPort(p.target) // checked by Listen
	targetPort, _ := strconv.Atoi(portStr)
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if addrs, err := net.LookupIP(host); err == nil {
		ips = addrs
	}
	proxyIP := net.ParseIP(p.Host())
	proxyPort := p.Port()
	return gocql.AddressTranslatorFunc(func(addr net.IP, port int) (net.IP, int) {
		if port != targetPort && port != proxyPort {
			return addr, port
		}
		for _, ip := range ips {
			if ip.Equal(addr) {
				return proxyIP, proxyPort
			}
		}
		return addr, port
	})
}
