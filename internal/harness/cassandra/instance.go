package cassandra

import (
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// Instance is one named Cassandra instance: its settings, its nodes and
// where their files are. Its methods own the node processes: Stop and
// Clean stop every one.
type Instance struct {
	Config
	Dir    string // RunDir/Name
	TLSDir string // Dir/tls
	Lib    string // CacheDir/lib: the jars

	// Logf receives the progress messages (default: stderr with the
	// prefix "cassandra.sh[NAME]: ").
	Logf func(format string, args ...any)
	// Tails receives the last lines of the logs of a node that failed.
	Tails io.Writer
	// Cmd names the command line in hints ("run 'Cmd stop' first").
	Cmd string

	nodes    []node
	recorded map[string]string
}

// node is one node: it listens on ip, in data center dc, rack rack.
type node struct {
	num   int // 1-based
	ip    string
	dc    string
	rack  string
	token *big.Int
}

// New checks c and lays out its nodes. Empty fields of c are not
// defaulted: use Load for the defaults of the command line.
func New(c Config) (*Instance, error) {
	if c.Port == c.StoragePort {
		return nil, bad("CASSANDRA_PORT and CASSANDRA_STORAGE_PORT must differ")
	}
	if !heapRE.MatchString(c.Heap) {
		return nil, bad("CASSANDRA_HEAP must look like 512M or 1G (got '%s')", c.Heap)
	}
	if len(c.Hosts) == 0 {
		return nil, bad("CASSANDRA_HOSTS is empty")
	}
	in := &Instance{
		Config: c,
		Dir:    filepath.Join(c.RunDir, c.Name),
		Tails:  os.Stderr,
		Cmd:    "scripts/cassandra.sh",
	}
	in.TLSDir = filepath.Join(in.Dir, "tls")
	in.Lib = filepath.Join(c.CacheDir, "lib")
	in.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "cassandra.sh[%s]: %s\n", c.Name, fmt.Sprintf(format, args...))
	}
	if err := in.layout(); err != nil {
		return nil, err
	}
	return in, nil
}

// layout sets the nodes' data centers, racks and tokens. Tokens are
// balanced per data center (as ccm does: the ring of each DC is even),
// offset by 100 per DC to stay unique.
func (in *Instance) layout() error {
	n := len(in.Hosts)
	if len(in.DCs) > 0 && len(in.DCs) != n {
		return bad("CASSANDRA_DCS has %d entries for %d host(s) in CASSANDRA_HOSTS: give one data center per host", len(in.DCs), n)
	}
	size, off, pos := map[string]int{}, map[string]int{}, map[string]int{}
	in.nodes = nil
	for i, ip := range in.Hosts {
		e := "datacenter1"
		if len(in.DCs) > 0 {
			e = in.DCs[i]
		}
		if !dcRE.MatchString(e) {
			return bad("CASSANDRA_DCS: '%s' must be DC or DC:RACK (letters, digits, _ and -)", e)
		}
		dc, rack, ok := strings.Cut(e, ":")
		if !ok {
			rack = "rack1"
		}
		if _, seen := off[dc]; !seen {
			off[dc] = 100 * len(off)
		}
		size[dc]++
		in.nodes = append(in.nodes, node{num: i + 1, ip: ip, dc: dc, rack: rack})
	}
	for i := range in.nodes {
		nd := &in.nodes[i]
		pos[nd.dc]++
		nd.token = new(big.Int).Add(token(pos[nd.dc], size[nd.dc]), big.NewInt(int64(off[nd.dc])))
	}
	return nil
}

// token is the balanced Murmur3 token of node i (1-based) of n: ccm's
// floor(i*2^64/n) - 2^63 with i from 0, that is floor((2(i-1)-n) * 2^63 / n).
func token(i, n int) *big.Int {
	if n == 1 {
		return big.NewInt(0)
	}
	k := big.NewInt(int64(2*(i-1) - n))
	k.Mul(k, new(big.Int).Lsh(big.NewInt(1), 63))
	// Div is Euclidean: for a positive divisor, the floor.
	return k.Div(k, big.NewInt(int64(n)))
}

// N is the number of nodes.
func (in *Instance) N() int { return len(in.nodes) }

// DataCenters is the data center of each node, in node order.
func (in *Instance) DataCenters() []string {
	out := make([]string, len(in.nodes))
	for i, nd := range in.nodes {
		out[i] = nd.dc
	}
	return out
}

func (in *Instance) nodeDir(i int) string { return filepath.Join(in.Dir, "node"+strconv.Itoa(i)) }

// pidFile is node i's pid file; its argv word tells node i's java from
// any other process.
func (in *Instance) pidFile(i int) proc.PIDFile {
	nd := in.nodeDir(i)
	return proc.PIDFile{Label: "node" + strconv.Itoa(i), Path: filepath.Join(nd, "pid"), Word: "@" + filepath.Join(nd, "conf", "jvm.args")}
}

// PID is the pid of node i if it runs, else 0.
func (in *Instance) PID(i int) int { return in.pidFile(i).Running() }

// Node checks a node number given as text (1..N).
func (in *Instance) Node(s string) (int, error) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || i > in.N() || strings.TrimLeft(s, "0123456789") != "" {
		return 0, bad("node number must be 1..%d (got '%s')", in.N(), s)
	}
	return i, nil
}

// dcNodes are the numbers of the nodes of data center dc.
func (in *Instance) dcNodes(dc string) ([]int, error) {
	var out []int
	all := map[string]bool{}
	for _, nd := range in.nodes {
		all[nd.dc] = true
		if nd.dc == dc {
			out = append(out, nd.num)
		}
	}
	if len(out) == 0 {
		names := make([]string, 0, len(all))
		for k := range all {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, bad("no node in data center '%s' (data centers: %s)", dc, strings.Join(names, " "))
	}
	return out, nil
}

func (in *Instance) allNodes() []int {
	out := make([]int, in.N())
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// tail writes the last 60 lines of node i's logs to in.Tails.
func (in *Instance) tail(i int) {
	nd := in.nodes[i-1]
	label := fmt.Sprintf("node%d (%s)", i, nd.ip)
	for _, f := range []string{"system.log", "stdout.log"} {
		path := filepath.Join(in.nodeDir(i), "logs", f)
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		fmt.Fprintf(in.Tails, "\n===== %s: last 60 lines of %s =====\n%s\n", label, path, strings.Join(lines, "\n"))
	}
	fmt.Fprintln(in.Tails)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
