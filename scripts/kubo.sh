#!/usr/bin/env bash
# Build, start, stop and check local kubo (`ipfs`) daemons for the end-to-end tests.
# Run `scripts/kubo.sh help` for the interface.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/kubo.sh COMMAND [ARGS]

Runs throwaway kubo (go-ipfs) daemons on loopback for tests: `ipfs init --profile test`
(no bootstrap peers, no MDNS, no AutoConf/AutoTLS/NAT port mapping, no delegated routers),
API and swarm on 127.0.0.1 only, gateway off unless asked for, telemetry off.
The binary is built from the tools/kubo Go module. Several named instances can run at once.

Commands:
  build            build ipfs into $KUBO_BIN_DIR (skipped if newer than tools/kubo/go.{mod,sum})
  start            build if needed, init a fresh repo, start `ipfs daemon` in the background, `wait`
  wait             wait until the API answers POST /api/v0/version
  stop             SIGTERM the daemon (SIGKILL after $KUBO_STOP_TIMEOUT s); idempotent
  status           name, API address, pid, state; exit 0 if running, else 3
  env              print `export` lines (IPFS_PATH, KUBO_API_URL, ...) for this instance
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
  KUBO_BIN_DIR         where `build` puts ipfs [<repo>/bin]
  KUBO_BIN             ipfs binary to run [$KUBO_BIN_DIR/ipfs]
  KUBO_FORCE_BUILD=1   `build` even if the binary looks up to date
  KUBO_KEEP_DATA=1     `start` reuses an existing repo (addresses are rewritten)
  KUBO_START_TIMEOUT   seconds `wait` waits [60]
  KUBO_STOP_TIMEOUT    seconds before SIGKILL [30]
  GO                   go command for `build` [go]

Commands other than `start` read the ports from the environment when set, else from the
settings recorded by the last `start` of that instance ($KUBO_DIR/$KUBO_NAME/instance.conf).
EOF
}

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
TOOLS_DIR=$REPO_ROOT/tools/kubo
KUBO_PKG=github.com/ipfs/kubo/cmd/ipfs

TOOL=kubo.sh
NAME=${KUBO_NAME:-kubo0}
KUBO_DIR=${KUBO_DIR:-/tmp/ipfs-cluster-scylla-kubo}
BIN_DIR=${KUBO_BIN_DIR:-$REPO_ROOT/bin}
BIN=${KUBO_BIN:-$BIN_DIR/ipfs}
START_TIMEOUT=${KUBO_START_TIMEOUT:-60}
STOP_TIMEOUT=${KUBO_STOP_TIMEOUT:-30}
KEEP_DATA=${KUBO_KEEP_DATA:-0}
GO=${GO:-go}
DIR=$KUBO_DIR/$NAME
REPO=$DIR/repo
PID_FILE=$DIR/daemon.pid
LOG_FILE=$DIR/daemon.log
MARKER=$DIR/.kubo-sh-instance
# The daemon's argv word that tells it from any other process.
PID_WORD=--repo-dir=$REPO

API_PORT='' SWARM_PORT='' GATEWAY_PORT=''

# shellcheck source-path=SCRIPTDIR source=lib/instance.sh
. "$SCRIPT_DIR/lib/instance.sh"

check_common() {
	check_name KUBO_NAME "$NAME"
	[[ $KUBO_DIR == /* ]] || die "KUBO_DIR must be an absolute path"
	[[ ${KUBO_DIR%/} != '' ]] || die "KUBO_DIR must not be /"
	check_seconds KUBO_START_TIMEOUT "$START_TIMEOUT"
	check_seconds KUBO_STOP_TIMEOUT "$STOP_TIMEOUT"
}

# load_config MODE: MODE=start ignores the recorded instance.conf.
load_config() {
	RECORDED=()
	[[ $1 == start ]] || conf_load "$DIR/instance.conf"
	API_PORT=$(setting KUBO_API_PORT API_PORT 5001)
	SWARM_PORT=$(setting KUBO_SWARM_PORT SWARM_PORT 4001)
	GATEWAY_PORT=$(setting KUBO_GATEWAY_PORT GATEWAY_PORT off)
	check_port KUBO_API_PORT "$API_PORT"
	check_port KUBO_SWARM_PORT "$SWARM_PORT"
	[[ $GATEWAY_PORT == off ]] || check_port KUBO_GATEWAY_PORT "$GATEWAY_PORT"
	[[ $API_PORT != "$SWARM_PORT" && $API_PORT != "$GATEWAY_PORT" && $SWARM_PORT != "$GATEWAY_PORT" ]] ||
		die "KUBO_API_PORT, KUBO_SWARM_PORT and KUBO_GATEWAY_PORT must differ"
}

api_url() { printf 'http://127.0.0.1:%s' "$API_PORT"; }

# daemon_pid: print the pid if the daemon runs (else nothing, removing a stale pid file).
daemon_pid() { pid_running "$PID_FILE" "$PID_WORD" || true; }

# api_ready: the API answers POST /api/v0/version with a version.
api_ready() {
	local out
	out=$(curl -s --max-time 2 -X POST "$(api_url)/api/v0/version" 2>/dev/null) || return 1
	[[ $out == *'"Version"'* ]]
}

# ipfs_repo ARGS...: run the ipfs binary on this instance's repo, no telemetry.
ipfs_repo() {
	IPFS_PATH=$REPO IPFS_TELEMETRY=off "$BIN" --repo-dir="$REPO" "$@"
}

# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------
build_up_to_date() {
	[[ -x $BIN_DIR/ipfs && $BIN_DIR/ipfs -nt $TOOLS_DIR/go.mod && $BIN_DIR/ipfs -nt $TOOLS_DIR/go.sum ]]
}

cmd_build() {
	[[ -f $TOOLS_DIR/go.mod ]] || die "$TOOLS_DIR/go.mod is missing"
	if [[ ${KUBO_FORCE_BUILD:-0} != 1 ]] && build_up_to_date; then
		log "$BIN_DIR/ipfs is up to date"
		return 0
	fi
	command -v "$GO" >/dev/null 2>&1 || die "'$GO' not found: Go is needed to build kubo"
	mkdir -p "$BIN_DIR"
	local t0=$SECONDS tmp
	tmp=$(mktemp "$BIN_DIR/.ipfs.XXXXXX")
	log "building $KUBO_PKG (tools/kubo) into $BIN_DIR/ipfs"
	if ! (cd "$TOOLS_DIR" && "$GO" build -o "$tmp" "$KUBO_PKG"); then
		rm -f "$tmp"
		die "go build of $KUBO_PKG failed"
	fi
	chmod 755 "$tmp"
	mv -f "$tmp" "$BIN_DIR/ipfs"
	log "built $("$BIN_DIR/ipfs" version) in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

# configure: the loopback-only, no-internet settings (on top of --profile test).
configure() {
	local gw='[]'
	[[ $GATEWAY_PORT == off ]] || gw="[\"/ip4/127.0.0.1/tcp/$GATEWAY_PORT\"]"
	ipfs_repo config --json Addresses.API "[\"/ip4/127.0.0.1/tcp/$API_PORT\"]"
	ipfs_repo config --json Addresses.Gateway "$gw"
	ipfs_repo config --json Addresses.Swarm "[\"/ip4/127.0.0.1/tcp/$SWARM_PORT\"]"
	ipfs_repo config --json Addresses.Announce '[]'
	ipfs_repo config --json Addresses.NoAnnounce '[]'
	ipfs_repo config --json Bootstrap '[]'
	ipfs_repo config --json Discovery.MDNS.Enabled false
	ipfs_repo config --json AutoConf.Enabled false
	ipfs_repo config --json AutoTLS.Enabled false
	ipfs_repo config --json Swarm.DisableNatPortMap true
	ipfs_repo config --json Swarm.RelayClient.Enabled false
	ipfs_repo config --json Swarm.RelayService.Enabled false
	ipfs_repo config --json Routing.DelegatedRouters '[]'
	ipfs_repo config --json Ipns.DelegatedPublishers '[]'
	ipfs_repo config --json DNS.Resolvers '{}'
	ipfs_repo config AutoNAT.ServiceMode disabled
	ipfs_repo config --json Plugins.Plugins.telemetry.Config '{"Mode": "off"}'
}

cmd_start() {
	load_config start
	command -v curl >/dev/null 2>&1 || die "curl is required"
	local pid t0=$SECONDS p
	pid_adopt "$NAME" "$PID_FILE" "$PID_WORD"
	pid=$(daemon_pid)
	[[ -z $pid ]] || die "instance '$NAME' is already running (pid $pid; see '$0 status'); run '$0 stop' first"
	for p in "$API_PORT" "$SWARM_PORT" "$GATEWAY_PORT"; do
		[[ $p == off ]] && continue
		tcp_open 127.0.0.1 "$p" && die "127.0.0.1:$p is already in use (another kubo instance or a leftover process?)"
	done
	if [[ ! -x $BIN ]]; then
		[[ -z ${KUBO_BIN:-} ]] || die "KUBO_BIN=$BIN is not an executable"
		cmd_build
	fi
	mkdir -p "$DIR"
	: >"$MARKER"
	if [[ $KEEP_DATA == 1 && -f $REPO/config ]]; then
		log "reusing repo $REPO"
	else
		rm -rf "$REPO"
		ipfs_repo init --profile test --empty-repo >"$DIR/init.log" 2>&1 ||
			{
				cat "$DIR/init.log" >&2
				die "ipfs init failed"
			}
	fi
	configure >>"$DIR/init.log" 2>&1 || {
		tail -n 20 "$DIR/init.log" >&2
		die "ipfs config failed"
	}
	conf_save "$DIR/instance.conf" API_PORT SWARM_PORT GATEWAY_PORT BIN

	[[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
	trap 'log "interrupted: stopping"; stop_daemon; exit 130' INT TERM
	spawn "$PID_FILE" "$PID_WORD" "$LOG_FILE" "$DIR" \
		env IPFS_PATH="$REPO" IPFS_TELEMETRY=off "$BIN" "$PID_WORD" daemon --migrate=false || true
	log "started pid $(cat "$PID_FILE"): API $(api_url), swarm /ip4/127.0.0.1/tcp/$SWARM_PORT (repo $REPO)"
	if ! wait_api $((SECONDS + START_TIMEOUT)); then
		log "startup FAILED; stopping"
		stop_daemon
		exit 1
	fi
	trap - INT TERM
	log "ready in $((SECONDS - t0))s"
}

# wait_api DEADLINE: poll the API until it answers; log tail on failure.
wait_api() {
	local deadline=$1
	while :; do
		if [[ -z $(daemon_pid) ]]; then
			log "the daemon is not running"
			show_tail "$NAME" "$LOG_FILE"
			return 1
		fi
		api_ready && return 0
		if ((SECONDS >= deadline)); then
			log "timeout: no answer from $(api_url)/api/v0/version"
			show_tail "$NAME" "$LOG_FILE"
			return 1
		fi
		sleep 0.5
	done
}

cmd_wait() {
	load_config other
	command -v curl >/dev/null 2>&1 || die "curl is required"
	wait_api $((SECONDS + START_TIMEOUT)) || exit 1
	log "ready: API $(api_url)"
}

# stop_daemon: SIGTERM, wait up to STOP_TIMEOUT, SIGKILL; remove the pid file.
stop_daemon() {
	pid_adopt "$NAME" "$PID_FILE" "$PID_WORD"
	stop_procs TERM "$STOP_TIMEOUT" "$NAME" "$PID_FILE" "$PID_WORD"
}

cmd_stop() {
	stop_daemon
	log "stopped"
}

cmd_status() {
	load_config other
	local pid state rc=0
	pid_adopt "$NAME" "$PID_FILE" "$PID_WORD"
	pid=$(daemon_pid)
	if [[ -z $pid ]]; then
		state=stopped
		rc=3
	elif api_ready; then
		state=running
	else
		state=starting
		rc=3
	fi
	printf '%s api=127.0.0.1:%s swarm=127.0.0.1:%s pid=%s %s\n' "$NAME" "$API_PORT" "$SWARM_PORT" "${pid:--}" "$state"
	return "$rc"
}

cmd_env() {
	load_config other
	export_line IPFS_PATH "$REPO"
	export_line KUBO_BIN "$BIN"
	export_line KUBO_API_MULTIADDR "/ip4/127.0.0.1/tcp/$API_PORT"
	export_line KUBO_API_URL "$(api_url)"
	export_line KUBO_SWARM_MULTIADDR "/ip4/127.0.0.1/tcp/$SWARM_PORT"
	export_line KUBO_PID_FILE "$PID_FILE"
	export_line IPFS_TELEMETRY off
}

cmd_logs() {
	[[ -f $LOG_FILE ]] || die "no log at $LOG_FILE"
	tail_logs "${KUBO_LOG_LINES:-50}" "$([[ ${1:-} == -f ]] && echo 1 || echo 0)" "$LOG_FILE"
}

cmd_clean() {
	local parent real
	parent=$(realpath -m -- "$KUBO_DIR")
	real=$(realpath -m -- "$DIR")
	[[ $parent != / && $real == "$parent"/* && ${real#"$parent"/} != */* ]] ||
		die "refusing to delete $real: not an instance directory inside $parent"
	stop_daemon
	if [[ -d $real ]]; then
		[[ -f $real/.kubo-sh-instance ]] || die "refusing to delete $real: it was not made by $0 start"
		rm -rf -- "$real"
	fi
	log "removed $real"
}

instance_main "$@"
