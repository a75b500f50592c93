package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cqlprobe"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// NodeStatus is what Status tells of one node.
type NodeStatus struct {
	Node  int
	IP    string
	DC    string
	PID   int    // 0: not running
	State string // running, starting, paused or stopped
}

// String is the line of `status`: name, node, address, data center, pid, state.
func (s NodeStatus) String() string {
	pid := "-"
	if s.PID != 0 {
		pid = strconv.Itoa(s.PID)
	}
	return fmt.Sprintf("node%d %s dc=%s pid=%s %s", s.Node, s.IP, s.DC, pid, s.State)
}

// Status is the state of every node; all running tells whether each serves CQL.
func (in *Instance) Status(ctx context.Context) (nodes []NodeStatus, allRunning bool) {
	allRunning = true
	for i := 1; i <= in.N(); i++ {
		in.pidFile(i).Adopt(in.Logf)
		n := in.nodes[i-1]
		s := NodeStatus{Node: i, IP: n.ip + ":" + strconv.Itoa(in.Port), DC: n.dc, PID: in.PID(i)}
		switch {
		case s.PID == 0:
			s.State = "stopped"
		case proc.Paused(s.PID):
			s.State = "paused"
		case in.cqlReady(ctx, i):
			s.State = "running"
		default:
			s.State = "starting"
		}
		if s.State != "running" {
			allRunning = false
		}
		nodes = append(nodes, s)
	}
	return nodes, allRunning
}

// EnvVar is one variable of Env.
type EnvVar struct{ Name, Value string }

// Env is what the Go tests read to reach the instance, named with
// EnvPrefix: _HOSTS, _PORT, _DCS (with data centers), _USERNAME and
// _PASSWORD (auth), _TLS_CA, _TLS_CERT, _TLS_KEY (TLS).
func (in *Instance) Env() ([]EnvVar, error) {
	p := in.EnvPrefix
	if !varRE.MatchString(p) {
		return nil, bad("CASSANDRA_ENV_PREFIX must be a shell variable name")
	}
	out := []EnvVar{{p + "_HOSTS", strings.Join(in.Hosts, ",")}, {p + "_PORT", strconv.Itoa(in.Port)}}
	if len(in.DCs) > 0 {
		out = append(out, EnvVar{p + "_DCS", strings.Join(in.DataCenters(), ",")})
	}
	if in.Auth {
		out = append(out, EnvVar{p + "_USERNAME", "cassandra"}, EnvVar{p + "_PASSWORD", "cassandra"})
	}
	if in.TLS {
		out = append(out, EnvVar{p + "_TLS_CA", filepath.Join(in.TLSDir, "ca.pem")},
			EnvVar{p + "_TLS_CERT", filepath.Join(in.TLSDir, "client.pem")},
			EnvVar{p + "_TLS_KEY", filepath.Join(in.TLSDir, "client-key.pem")})
	}
	return out, nil
}

var plainRE = regexp.MustCompile(`^[A-Za-z0-9_./,:@+=-]*$`)

// ExportLine is `export NAME=VALUE`, the value single-quoted only if needed.
func ExportLine(name, value string) string {
	if !plainRE.MatchString(value) {
		value = "'" + strings.ReplaceAll(value, "'", `'\''`) + "'"
	}
	return "export " + name + "=" + value
}

// ErrAuth is returned (wrapped) when the server refused the login.
var ErrAuth = errors.New("authentication refused")

// ProbeError is a failure of the CQL probe, with its exit status (see
// cqlprobe.Run); it has said what went wrong on its stderr.
type ProbeError struct{ Code int }

func (e *ProbeError) Error() string { return fmt.Sprintf("cql probe failed (exit %d)", e.Code) }

// Is matches ErrAuth when the server refused the login.
func (e *ProbeError) Is(target error) bool { return target == ErrAuth && e.Code == cqlprobe.ExitAuth }

// probe runs the CQL probe (internal/harness/cqlprobe) on every host with
// the instance's auth and TLS, then args.
func (in *Instance) probe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	all := []string{"-hosts", strings.Join(in.Hosts, ","), "-port", strconv.Itoa(in.Port)}
	if in.Auth {
		all = append(all, "-user", "cassandra")
	}
	if in.TLS {
		all = append(all, "-ca", filepath.Join(in.TLSDir, "ca.pem"), "-cert", filepath.Join(in.TLSDir, "client.pem"),
			"-key", filepath.Join(in.TLSDir, "client-key.pem"))
	}
	getenv := func(k string) string {
		if k == cqlprobe.PasswordEnv {
			return "cassandra"
		}
		return ""
	}
	if code := cqlprobe.Run(ctx, append(all, args...), getenv, stdout, stderr); code != cqlprobe.ExitOK {
		return &ProbeError{code}
	}
	return nil
}

// CQL runs the statements (none: the release version query) and prints
// the rows to stdout, columns separated by " | ". node > 0: that node
// alone coordinates; consistency "" is LOCAL_ONE.
func (in *Instance) CQL(ctx context.Context, node int, consistency string, stmts []string, stdout, stderr io.Writer) error {
	var args []string
	if node > 0 {
		args = append(args, "-hosts", in.nodes[node-1].ip)
	}
	if consistency != "" {
		args = append(args, "-consistency", consistency)
	}
	return in.probe(ctx, append(append(args, "--"), stmts...), stdout, stderr)
}

// LogFiles are the system.log files of every node (node > 0: of that one)
// that exist.
func (in *Instance) LogFiles(node int) []string {
	var out []string
	for i := 1; i <= in.N(); i++ {
		if node > 0 && i != node {
			continue
		}
		if f := in.systemLog(i); fileExists(f) {
			out = append(out, f)
		}
	}
	return out
}
