package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// lowestPort is the lowest port FreePort hands out.
const lowestPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range (where
// outgoing connections take their local ports), 32768 if unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowestPort+1000 {
				return n
			}
		}
	}
	return 32768
}

// FreePort hands out a TCP port free on 127.0.0.1 and not handed out
// before in this session. It is taken below the kernel's ephemeral range:
// a port in that range can become the local end of an outgoing connection
// between the check and the daemon's bind ("address already in use").
func (s *Session) FreePort() (int, error) {
	used, err := s.list("ports")
	if err != nil {
		return 0, err
	}
	high := ephemeralLow()
	for range 200 {
		p := lowestPort + rand.IntN(high-lowestPort)
		if slices.Contains(used, strconv.Itoa(p)) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken
		}
		l.Close()
		return p, s.add("ports", strconv.Itoa(p))
	}
	return 0, fmt.Errorf("no free port found on 127.0.0.1 between %d and %d", lowestPort, high)
}
