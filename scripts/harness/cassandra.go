package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
)

const cassandraUsage = `Usage: scripts/cassandra.sh COMMAND [ARGS]

Runs a real Apache Cassandra (org.apache.cassandra:cassandra-all from Maven Central)
on OpenJDK 17 for integration tests. Configuration comes from the environment.

Commands:
  fetch            resolve cassandra-all + runtime deps into $CASSANDRA_CACHE_DIR/lib (once)
  start            fetch if needed, write config, start every node, then ` + "`wait`" + `
  wait             wait until every node serves CQL, sees the others UP and (auth) login works
  stop             SIGTERM every node (SIGKILL after 60s); idempotent
  status           per node: name, address, data center, pid, state (running, starting,
                   paused, stopped); exit 0 if all running, else 3
  env              print ` + "`export`" + ` lines for the Go tests (see CASSANDRA_ENV_PREFIX)
  logs [-f] [N]    tail system.log of every node (or node N); -f follows
  stop-node N      SIGTERM node N (1-based) and wait until it is gone; keeps its data
  kill-node N      SIGKILL node N (crash simulation); keeps its data
  start-node N     start node N again with its data; wait for it and for gossip UP
  pause-node N     SIGSTOP node N (an unresponsive node: its sockets stay open); idempotent
  resume-node N    SIGCONT node N, then wait until the running nodes see each other UP
  pause-dc DC      pause-node every node of data center DC
  resume-dc DC     resume-node every node of data center DC
  cql [-n N] [-c CL] [STMT...]
                   run CQL statements with the Go probe (internal/harness/cqlprobe;
                   auth/TLS aware) and print the rows, columns separated by " | ";
                   default STMT: SELECT release_version FROM system.local. -n N: node N
                   alone coordinates; -c CL: consistency level [LOCAL_ONE]
  clean            stop, then delete the instance directory
  help, -h         this text

Environment (defaults in brackets):
  CASSANDRA_NAME           instance name [main]; state in $CASSANDRA_RUN_DIR/$CASSANDRA_NAME
  CASSANDRA_HOSTS          comma-separated IPs, one node per IP [127.0.0.1]
  CASSANDRA_DCS            data center of each node, aligned with CASSANDRA_HOSTS, as DC or
                           DC:RACK [rack1], e.g. dc1,dc1,dc2,dc2: GossipingPropertyFileSnitch
                           with a cassandra-rackdc.properties per node. Unset: SimpleSnitch,
                           one data center named datacenter1
  CASSANDRA_PORT           native (CQL) port on every IP [9042]
  CASSANDRA_STORAGE_PORT   internode (gossip) port on every IP [7000]
  CASSANDRA_AUTH=1         PasswordAuthenticator + CassandraAuthorizer (cassandra/cassandra)
  CASSANDRA_TLS=1          client TLS, mutual (client certificate required); PEM files in
                           $CASSANDRA_RUN_DIR/$CASSANDRA_NAME/tls/{ca,client,client-key}.pem
  CASSANDRA_HEAP           -Xms/-Xmx per node [512M]
  CASSANDRA_KEEP_DATA=1    ` + "`start`" + ` keeps the data directories of a previous run
  CASSANDRA_RUN_DIR        [/tmp/ipfs-cluster-scylla-cassandra]
  CASSANDRA_CACHE_DIR      jars, maven repo [${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-cluster-scylla/cassandra-$CASSANDRA_VERSION]
  CASSANDRA_VERSION        [5.0.8]
  CASSANDRA_START_TIMEOUT  seconds per wait phase [180]
  CASSANDRA_STOP_TIMEOUT   seconds before SIGKILL [60]
  CASSANDRA_ENV_PREFIX     variable prefix for ` + "`env`" + ` [SCYLLASTATE_TEST]; with CASSANDRA_DCS,
                           ` + "`env`" + ` also prints ${PREFIX}_DCS (data centers aligned with _HOSTS)
  CASSANDRA_LOG_LINES      lines shown by ` + "`logs`" + ` [50]
  CASSANDRA_JAVA           java binary [/usr/lib/jvm/java-17-openjdk-amd64/bin/java]
  CASSANDRA_JVM_OPTS       extra JVM flags appended to every node (whitespace separated)
  GO                       go command that builds this tool (scripts/harness) [go]

Commands other than ` + "`start`" + ` read HOSTS/DCS/PORT/AUTH/TLS/HEAP from the environment when
set, else from the settings recorded by the last ` + "`start`" + ` of that instance
($CASSANDRA_RUN_DIR/$CASSANDRA_NAME/instance.conf). ` + "`start`" + ` uses the recorded settings
only with CASSANDRA_KEEP_DATA=1.
`

// Exit statuses of the cassandra commands.
const (
	exitOK          = 0
	exitFailed      = 1
	exitNotRunning  = 3
	exitInterrupted = 130
)

func cassandraMain(ctx context.Context, args []string) int {
	cmd, args, logf := toolArgs(args, "cassandra.sh", "CASSANDRA_NAME", "main")
	fail := func(err error) int {
		logf("ERROR: %v", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Print(cassandraUsage)
		return exitOK
	}
	run, ok := cassandraCommands[cmd]
	if !ok {
		fmt.Fprint(os.Stderr, cassandraUsage)
		return fail(fmt.Errorf("unknown command '%s'", cmd))
	}
	mode := cassandra.ForOther
	if cmd == "start" {
		mode = cassandra.ForStart
	}
	in, err := cassandra.Load(os.Getenv, mode)
	if err != nil {
		return fail(err)
	}
	in.Logf = logf
	if self := os.Getenv("HARNESS_SCRIPT"); self != "" {
		in.Cmd = self
	}
	code, err := run(ctx, in, args)
	if err != nil {
		return fail(err)
	}
	return code
}

// nodeArg reads the node number argument of a command.
func nodeArg(in *cassandra.Instance, args []string) (int, error) {
	a := ""
	if len(args) > 0 {
		a = args[0]
	}
	return in.Node(a)
}

type cassandraCommand func(ctx context.Context, in *cassandra.Instance, args []string) (int, error)

func ok(err error) (int, error) { return exitOK, err }

var cassandraCommands = map[string]cassandraCommand{
	"fetch": func(ctx context.Context, in *cassandra.Instance, _ []string) (int, error) { return ok(in.Fetch(ctx)) },
	"start": func(ctx context.Context, in *cassandra.Instance, _ []string) (int, error) { return ok(in.Start(ctx)) },
	"wait":  func(ctx context.Context, in *cassandra.Instance, _ []string) (int, error) { return ok(in.Wait(ctx)) },
	"stop":  func(ctx context.Context, in *cassandra.Instance, _ []string) (int, error) { return ok(in.Stop(ctx)) },
	"clean": func(ctx context.Context, in *cassandra.Instance, _ []string) (int, error) { return ok(in.Clean(ctx)) },
	"status": func(ctx context.Context, in *cassandra.Instance, _ []string) (int, error) {
		nodes, all := in.Status(ctx)
		for _, n := range nodes {
			fmt.Println(in.Name + " " + n.String())
		}
		if !all {
			return exitNotRunning, nil
		}
		return exitOK, nil
	},
	"env": func(_ context.Context, in *cassandra.Instance, _ []string) (int, error) {
		vars, err := in.Env()
		for _, v := range vars {
			fmt.Println(cassandra.ExportLine(v.Name, v.Value))
		}
		return ok(err)
	},
	"stop-node": func(ctx context.Context, in *cassandra.Instance, args []string) (int, error) {
		i, err := nodeArg(in, args)
		if err != nil {
			return ok(err)
		}
		return ok(in.StopNode(ctx, i))
	},
	"kill-node": func(ctx context.Context, in *cassandra.Instance, args []string) (int, error) {
		i, err := nodeArg(in, args)
		if err != nil {
			return ok(err)
		}
		return ok(in.KillNode(ctx, i))
	},
	"start-node": func(ctx context.Context, in *cassandra.Instance, args []string) (int, error) {
		i, err := nodeArg(in, args)
		if err != nil {
			return ok(err)
		}
		return ok(in.StartNode(ctx, i))
	},
	"pause-node": func(_ context.Context, in *cassandra.Instance, args []string) (int, error) {
		i, err := nodeArg(in, args)
		if err == nil {
			in.PauseNode(i)
		}
		return ok(err)
	},
	"resume-node": func(ctx context.Context, in *cassandra.Instance, args []string) (int, error) {
		i, err := nodeArg(in, args)
		if err != nil {
			return ok(err)
		}
		return ok(in.ResumeNode(ctx, i))
	},
	"pause-dc": func(_ context.Context, in *cassandra.Instance, args []string) (int, error) {
		return ok(in.PauseDC(first(args)))
	},
	"resume-dc": func(ctx context.Context, in *cassandra.Instance, args []string) (int, error) {
		return ok(in.ResumeDC(ctx, first(args)))
	},
	"logs": cassandraLogs,
	"cql":  cassandraCQL,
}

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// cassandraLogs: logs [-f] [N] tails the nodes' system.log (exec tail).
func cassandraLogs(_ context.Context, in *cassandra.Instance, args []string) (int, error) {
	follow, node := false, 0
	for _, a := range args {
		if a == "-f" {
			follow = true
			continue
		}
		i, err := in.Node(a)
		if err != nil {
			return ok(err)
		}
		node = i
	}
	files := in.LogFiles(node)
	if len(files) == 0 {
		return ok(fmt.Errorf("no logs in %s", in.Dir))
	}
	return tailFiles(in.LogLines, follow, files)
}

// tailFiles runs tail on the files (follow: replaces this process by
// `tail -F`).
func tailFiles(lines string, follow bool, files []string) (int, error) {
	if n, err := strconv.Atoi(lines); err != nil || n < 0 {
		return ok(fmt.Errorf("the number of log lines must be a number (got '%s')", lines))
	}
	bin, err := exec.LookPath("tail")
	if err != nil {
		return ok(err)
	}
	if follow {
		return ok(syscall.Exec(bin, append([]string{"tail", "-n", lines, "-F"}, files...), os.Environ()))
	}
	c := exec.Command(bin, append([]string{"-n", lines}, files...)...)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	return ok(c.Run())
}

// cassandraCQL: cql [-n N] [-c CL] [--] [STMT...].
func cassandraCQL(ctx context.Context, in *cassandra.Instance, args []string) (int, error) {
	node, cl := 0, ""
loop:
	for len(args) > 0 {
		switch args[0] {
		case "-n":
			i, err := nodeArg(in, args[1:])
			if err != nil {
				return ok(err)
			}
			node, args = i, args[min(2, len(args)):]
		case "-c":
			if len(args) < 2 || args[1] == "" {
				return ok(errors.New("cql -c needs a consistency level (e.g. LOCAL_QUORUM)"))
			}
			cl, args = args[1], args[2:]
		case "--":
			args = args[1:]
			break loop
		default:
			break loop
		}
	}
	if err := in.CQL(ctx, node, cl, args, os.Stdout, os.Stderr); err != nil {
		// The probe said what went wrong on stderr; exit as it did.
		var pe *cassandra.ProbeError
		if errors.As(err, &pe) {
			return pe.Code, nil
		}
		return ok(err)
	}
	return exitOK, nil
}
