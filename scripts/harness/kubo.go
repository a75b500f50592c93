package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
)

const kuboUsage = `Usage: scripts/kubo.sh COMMAND [ARGS]

Runs throwaway kubo (go-ipfs) daemons on loopback for tests: ` + "`ipfs init --profile test`" + `
(no bootstrap peers, no MDNS, no AutoConf/AutoTLS/NAT port mapping, no delegated routers),
API and swarm on 127.0.0.1 only, gateway off unless asked for, telemetry off.
The binary is built from the tools/kubo Go module. Several named instances can run at once.

Commands:
  build            build ipfs into $KUBO_BIN_DIR (skipped if newer than tools/kubo/go.{mod,sum})
  start            build if needed, init a fresh repo, start ` + "`ipfs daemon`" + ` in the background, ` + "`wait`" + `
  wait             wait until the API answers POST /api/v0/version
  stop             SIGTERM the daemon (SIGKILL after $KUBO_STOP_TIMEOUT s); idempotent
  status           name, API address, pid, state; exit 0 if running, else 3
  env              print ` + "`export`" + ` lines (IPFS_PATH, KUBO_API_URL, ...) for this instance
  logs [-f]        tail the daemon log; -f follows
  clean            stop, then delete the instance directory (only inside $KUBO_DIR)
  help, -h         this text

Environment (defaults in brackets):
  KUBO_NAME            instance name [kubo0]; state in $KUBO_DIR/$KUBO_NAME
                       (repo/ = IPFS_PATH, daemon.pid, daemon.log, instance.conf)
  KUBO_DIR             parent of the instance directories [/tmp/ipfs-cluster-scylla-kubo]
  KUBO_API_PORT        RPC API port on 127.0.0.1 [5001]
  KUBO_SWARM_PORT      libp2p TCP port on 127.0.0.1 [4001]
  KUBO_GATEWAY_PORT    HTTP gateway port on 127.0.0.1, or "off" [off]
  KUBO_BIN_DIR         where ` + "`build`" + ` puts ipfs [<repo>/bin]
  KUBO_BIN             ipfs binary to run [$KUBO_BIN_DIR/ipfs]
  KUBO_FORCE_BUILD=1   ` + "`build`" + ` even if the binary looks up to date
  KUBO_KEEP_DATA=1     ` + "`start`" + ` reuses an existing repo (addresses are rewritten)
  KUBO_START_TIMEOUT   seconds ` + "`wait`" + ` waits [60]
  KUBO_STOP_TIMEOUT    seconds before SIGKILL [30]
  KUBO_LOG_LINES       lines shown by ` + "`logs`" + ` [50]
  GO                   go command for ` + "`build`" + ` and for this tool (scripts/harness) [go]

Commands other than ` + "`start`" + ` read the ports from the environment when set, else from the
settings recorded by the last ` + "`start`" + ` of that instance ($KUBO_DIR/$KUBO_NAME/instance.conf).
`

type kuboCommand func(ctx context.Context, in *kubo.Instance, args []string) (int, error)

// kuboCommands and the settings each one needs.
var kuboCommands = map[string]struct {
	mode kubo.Mode
	run  kuboCommand
}{
	"build": {kubo.NoPorts, func(ctx context.Context, in *kubo.Instance, _ []string) (int, error) { return ok(in.Build(ctx)) }},
	"start": {kubo.ForStart, func(ctx context.Context, in *kubo.Instance, _ []string) (int, error) { return ok(in.Start(ctx)) }},
	"wait":  {kubo.ForOther, func(ctx context.Context, in *kubo.Instance, _ []string) (int, error) { return ok(in.Wait(ctx)) }},
	"stop": {kubo.NoPorts, func(ctx context.Context, in *kubo.Instance, _ []string) (int, error) {
		if err := in.Stop(ctx); err != nil {
			return ok(err)
		}
		in.Logf("stopped")
		return exitOK, nil
	}},
	"status": {kubo.ForOther, func(ctx context.Context, in *kubo.Instance, _ []string) (int, error) {
		line, running := in.Status(ctx)
		fmt.Println(line)
		if !running {
			return exitNotRunning, nil
		}
		return exitOK, nil
	}},
	"env": {kubo.ForOther, func(_ context.Context, in *kubo.Instance, _ []string) (int, error) {
		for _, v := range in.Env() {
			fmt.Println(cassandra.ExportLine(v.Name, v.Value))
		}
		return exitOK, nil
	}},
	"logs": {kubo.NoPorts, func(_ context.Context, in *kubo.Instance, args []string) (int, error) {
		if _, err := os.Stat(in.LogFile()); err != nil {
			return ok(fmt.Errorf("no log at %s", in.LogFile()))
		}
		return tailFiles(in.LogLines, first(args) == "-f", []string{in.LogFile()})
	}},
	"clean": {kubo.NoPorts, func(ctx context.Context, in *kubo.Instance, _ []string) (int, error) { return ok(in.Clean(ctx)) }},
}

// kuboMain is scripts/kubo.sh: the interface, messages and exit statuses
// of the shell script it replaces.
func kuboMain(ctx context.Context, args []string) int {
	cmd, args, logf := toolArgs(args, "kubo.sh", "KUBO_NAME", "kubo0")
	fail := func(err error) int {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		if !errors.Is(err, kubo.ErrNotReady) { // already told
			logf("ERROR: %v", err)
		}
		return exitFailed
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Print(kuboUsage)
		return exitOK
	}
	c, found := kuboCommands[cmd]
	if !found {
		fmt.Fprint(os.Stderr, kuboUsage)
		return fail(fmt.Errorf("unknown command '%s'", cmd))
	}
	root := os.Getenv("HARNESS_ROOT")
	if root == "" {
		return fail(errors.New("HARNESS_ROOT is not set: run scripts/kubo.sh, which sets it"))
	}
	in, err := kubo.Load(os.Getenv, filepath.Clean(root), c.mode)
	if err != nil {
		return fail(err)
	}
	in.Logf = logf
	if self := os.Getenv("HARNESS_SCRIPT"); self != "" {
		in.Cmd = self
	}
	code, err := c.run(ctx, in, args)
	if err != nil {
		return fail(err)
	}
	return code
}
