# shellcheck shell=bash
# Helpers that start, drive and stop local kubo daemons and ipfs-cluster-service peers, and
# hand out throwaway keyspaces. Shared by the sharness suite (lib/test-lib.sh sources it)
# and by `make demo` (scripts/demo.sh); it needs bash but not sharness.
#
# The includer sets TEST_KUBO_DIR (kubo instances), TEST_LIB_STATE (bookkeeping) and may set
# TEST_BIN_DIR [<repo>/bin], KUBO_BIN [$TEST_BIN_DIR/ipfs], TEST_ORIG_HOME [$HOME]; fd 4
# receives what the helpers say about processes. _tl_reap_all stops everything started here
# and drops the keyspaces handed out: call it on exit.

PEERS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=${REPO_ROOT:-$(cd "$PEERS_LIB_DIR/../.." && pwd)}
TEST_BIN_DIR=${TEST_BIN_DIR:-$REPO_ROOT/bin}
KUBO_BIN=${KUBO_BIN:-$TEST_BIN_DIR/ipfs}
KUBO_SH=$REPO_ROOT/scripts/kubo.sh
CASSANDRA_SH=$REPO_ROOT/scripts/cassandra.sh
TEST_ORIG_HOME=${TEST_ORIG_HOME:-$HOME}
: "${TEST_KUBO_DIR:?set TEST_KUBO_DIR before sourcing peers.sh}"
: "${TEST_LIB_STATE:?set TEST_LIB_STATE before sourcing peers.sh}"
mkdir -p "$TEST_LIB_STATE"
PATH=$TEST_BIN_DIR:$PATH
# Never report telemetry from anything started here.
IPFS_TELEMETRY=off
export REPO_ROOT TEST_BIN_DIR KUBO_BIN TEST_ORIG_HOME PATH IPFS_TELEMETRY

# ---------------------------------------------------------------------------
# Bookkeeping: what was started, so that it can be stopped at the end.
# ---------------------------------------------------------------------------
_TL_KUBOS=()    # kubo instance names
_TL_CLUSTERS=() # cluster config dirs

_tl_add() { # _tl_add ARRAY VALUE: append unless present
	local -n _arr=$1
	local v
	for v in "${_arr[@]}"; do [ "$v" = "$2" ] && return 0; done
	_arr+=("$2")
}

# _tl_reap_all: stop every daemon started by the helpers, drop the keyspaces.
_tl_reap_all() {
	local n d
	for d in "${_TL_CLUSTERS[@]}"; do
		cluster_stop "$d" || true
	done
	for n in "${_TL_KUBOS[@]}"; do
		test_kubo_stop "$n" || true
	done
	_TL_CLUSTERS=()
	_TL_KUBOS=()
	if [ -s "$TEST_LIB_STATE/keyspaces" ]; then
		local -a ks=()
		mapfile -t ks <"$TEST_LIB_STATE/keyspaces"
		test_keyspace_drop "${ks[@]}" || true
		: >"$TEST_LIB_STATE/keyspaces"
	fi
	return 0
}

# test_wait_for TIMEOUT CMD...: run CMD every 0.5 s until it succeeds or TIMEOUT seconds pass.
test_wait_for() {
	local timeout=$1 deadline
	shift
	deadline=$((SECONDS + timeout))
	until "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.5
	done
}

# test_free_port: print a free TCP port on 127.0.0.1, not handed out before by this script.
# It is taken below the kernel's ephemeral range (ip_local_port_range): a port
# in that range can be the local end of any outgoing connection between the
# check and the bind (kubo then failed with "bind: address already in use").
test_free_port() {
	local p i low=32768 range
	if read -r range _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null && ((range > 11000)); then
		low=$range
	fi
	touch "$TEST_LIB_STATE/ports"
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (low - 10000)))
		grep -qx "$p" "$TEST_LIB_STATE/ports" && continue
		_tl_tcp_open 127.0.0.1 "$p" && continue
		echo "$p" >>"$TEST_LIB_STATE/ports"
		echo "$p"
		return 0
	done
	echo "test_free_port: no free port found" >&2
	return 1
}

# _tl_tcp_open HOST PORT: something accepts TCP connections there (2 s at most).
# shellcheck disable=SC2016 # $1/$2 expand in the child bash, on purpose
_tl_tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

# _tl_stat PID: print "STATE START" of PID, a process that runs and is not a zombie (state
# letter; start time in clock ticks since boot, field 22 of /proc/PID/stat).
_tl_stat() {
	local s
	local -a f
	[[ $1 =~ ^[0-9]+$ ]] && s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a f <<<"${s##*) }" # the fields after "(comm) ", whatever comm holds
	((${#f[@]} >= 20)) && [[ ${f[0]} != [ZX] ]] && printf '%s %s\n' "${f[0]}" "${f[19]}"
}

# _tl_has_arg PID WORD: one of PID's argv words is WORD.
_tl_has_arg() {
	local a
	local -a args
	mapfile -d '' -t args 2>/dev/null <"/proc/$1/cmdline" || return 1
	for a in "${args[@]}"; do [[ $a == "$2" ]] && return 0; done
	return 1
}

# proc_is PID WORD: PID runs, is not a zombie, and one of its argv words is WORD (so a
# recycled PID is not taken for ours).
proc_is() { kill -0 "$1" 2>/dev/null && _tl_stat "$1" >/dev/null && _tl_has_arg "$1" "$2"; }


# test_pid_gone PID [TIMEOUT]: PID has exited (a zombie counts: it is only waiting to be
# reaped by its parent or init) within TIMEOUT [5] seconds.
test_pid_gone() {
	local pid=$1 deadline=$((SECONDS + ${2:-5})) state
	while kill -0 "$pid" 2>/dev/null; do
		state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || state=''
		case $state in Z | X | '') return 0 ;; esac
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
}

# ---------------------------------------------------------------------------
# kubo
# ---------------------------------------------------------------------------

# _tl_kubo NAME CMD [VAR=VALUE...]: scripts/kubo.sh for instance NAME in $TEST_KUBO_DIR
# (with the original HOME, where scripts/harness.sh keeps its binary and Go its caches).
_tl_kubo() {
	local name=$1 cmd=$2
	shift 2
	env HOME="$TEST_ORIG_HOME" KUBO_DIR="$TEST_KUBO_DIR" KUBO_NAME="$name" KUBO_BIN="$KUBO_BIN" "$@" "$KUBO_SH" "$cmd"
}

test_kubo_dir() { printf '%s/%s\n' "$TEST_KUBO_DIR" "$1"; }

# test_kubo_pid NAME: the pid recorded for instance NAME (empty if none).
test_kubo_pid() { cat "$(test_kubo_dir "$1")/daemon.pid" 2>/dev/null || true; }

# test_kubo_start NAME API_PORT SWARM_PORT: init a throwaway repo and start `ipfs daemon`,
# API on 127.0.0.1:API_PORT, swarm on 127.0.0.1 tcp SWARM_PORT, no gateway, no internet.
test_kubo_start() {
	local name=$1 api=$2 swarm=$3
	if [ ! -x "$KUBO_BIN" ]; then
		echo "kubo binary $KUBO_BIN is missing: run scripts/kubo.sh build" >&2
		return 1
	fi
	_tl_add _TL_KUBOS "$name"
	_tl_kubo "$name" start KUBO_API_PORT="$api" KUBO_SWARM_PORT="$swarm" KUBO_GATEWAY_PORT=off \
		>&4 2>&1 3>&- 5>&- 6>&-
}

# test_kubo_stop NAME: SIGTERM (then SIGKILL) the daemon of instance NAME; idempotent.
test_kubo_stop() {
	[ -d "$(test_kubo_dir "$1")" ] || return 0
	_tl_kubo "$1" stop >&4 2>&1 3>&- 5>&- 6>&-
}

# ipfsCmd NAME ARGS...: the local ipfs on instance NAME's repo (talks to its daemon if up).
ipfsCmd() {
	local name=$1
	shift
	IPFS_PATH="$(test_kubo_dir "$name")/repo" "$KUBO_BIN" "$@"
}

# ---------------------------------------------------------------------------
# Cassandra / ScyllaDB
# ---------------------------------------------------------------------------
test_cassandra_host() { local h=${SCYLLASTATE_TEST_HOSTS:-127.0.0.1}; printf '%s\n' "${h%%,*}"; }
test_cassandra_port() { printf '%s\n' "${SCYLLASTATE_TEST_PORT:-9042}"; }

# test_keyspace: print a fresh throwaway keyspace name (sh_ + 16 hex digits). It is dropped
# when the script ends (best effort, through scripts/cassandra.sh cql).
test_keyspace() {
	local ks
	ks=sh_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	echo "$ks" >>"$TEST_LIB_STATE/keyspaces"
	echo "$ks"
}

# test_keyspace_drop KS...: DROP KEYSPACE IF EXISTS each (best effort; needs the Cassandra
# started by scripts/cassandra.sh, instance $CASSANDRA_NAME [main]).
test_keyspace_drop() {
	local ks
	local -a stmts=()
	for ks in "$@"; do
		case $ks in sh_*) stmts+=("DROP KEYSPACE IF EXISTS $ks") ;; esac
	done
	[ ${#stmts[@]} -gt 0 ] || return 0
	HOME=$TEST_ORIG_HOME "$CASSANDRA_SH" cql "${stmts[@]}" >&4 2>&1 3>&- 5>&- 6>&-
}

# ---------------------------------------------------------------------------
# Cluster peers (ipfs-cluster-service / ipfs-cluster-ctl in $TEST_BIN_DIR)
# ---------------------------------------------------------------------------

# cluster_config_set DIR JQ_FILTER [JQ ARGS...]: rewrite DIR/service.json with jq.
cluster_config_set() {
	local dir=$1 filter=$2 f tmp
	shift 2
	f=$dir/service.json
	tmp=$f.tmp.$$
	if jq "$@" "$filter" "$f" >"$tmp"; then
		mv -f "$tmp" "$f"
	else
		rm -f "$tmp"
		return 1
	fi
}

# cluster_config_loopback DIR: cluster swarm on 127.0.0.1 only, no mDNS, no relay service.
cluster_config_loopback() {
	cluster_config_set "$1" '
		def lo: if type == "string" then sub("^/ip4/0\\.0\\.0\\.0/"; "/ip4/127.0.0.1/")
			| sub("^/ip6/::/"; "/ip6/::1/") else . end;
		if .cluster then
			.cluster.listen_multiaddress |= (if type == "array" then map(lo) else lo end)
			| .cluster.mdns_interval = "0s"
			| .cluster.enable_relay_hop = false
		else . end'
}

# cluster_init DIR [INIT ARGS...]: `ipfs-cluster-service --config DIR init --force
# --datastore $CLUSTER_DATASTORE [ARGS]` (e.g. --randomports), then loopback only.
cluster_init() {
	local dir=$1
	shift
	mkdir -p "$dir" || return 1
	ipfs-cluster-service --config "$dir" init --force --datastore "${CLUSTER_DATASTORE:-scylla}" "$@" \
		</dev/null >"$dir/init.log" 2>&1 || {
		cat "$dir/init.log" >&2
		return 1
	}
	cluster_config_loopback "$dir"
}

# cluster_config_scylla DIR KEYSPACE [HOSTS_CSV [PORT]]: point .state.scyllastate at the test
# database (default: $SCYLLASTATE_TEST_HOSTS / $SCYLLASTATE_TEST_PORT) and KEYSPACE.
cluster_config_scylla() {
	local dir=$1 ks=$2 hosts=${3:-${SCYLLASTATE_TEST_HOSTS:-127.0.0.1}} port=${4:-${SCYLLASTATE_TEST_PORT:-9042}}
	# shellcheck disable=SC2016 # jq variables
	cluster_config_set "$dir" '.state.scyllastate.keyspace = $ks
		| .state.scyllastate.hosts = ($hosts | split(",") | map(select(length > 0)))
		| .state.scyllastate.port = ($port | tonumber)' \
		--arg ks "$ks" --arg hosts "$hosts" --arg port "$port"
}

# cluster_config_ipfs DIR API_PORT: use the kubo whose API is 127.0.0.1:API_PORT.
cluster_config_ipfs() {
	# shellcheck disable=SC2016 # jq variables
	cluster_config_set "$1" '
		.ipfs_connector.ipfshttp.node_multiaddress = $ma
		| if .api.ipfsproxy then .api.ipfsproxy.node_multiaddress = $ma else . end' \
		--arg ma "/ip4/127.0.0.1/tcp/$2"
}

# cluster_restapi_port DIR: the port of .api.restapi.http_listen_multiaddress (first one).
cluster_restapi_port() {
	jq -r '.api.restapi.http_listen_multiaddress | if type == "array" then .[0] else . end' \
		"$1/service.json" | sed -n 's#.*/tcp/\([0-9][0-9]*\).*#\1#p'
}

# cluster_id DIR: the peer ID from DIR/identity.json.
cluster_id() { jq -r .id "$1/identity.json"; }

# cluster_addr DIR: /ip4/127.0.0.1/tcp/PORT/p2p/ID, to --bootstrap or --peers other peers.
cluster_addr() {
	local ma
	ma=$(jq -r '.cluster.listen_multiaddress | if type == "array" then . else [.] end
		| map(select(test("/tcp/"))) | .[0]' "$1/service.json")
	printf '/ip4/127.0.0.1/tcp/%s/p2p/%s\n' "$(sed -n 's#.*/tcp/\([0-9][0-9]*\).*#\1#p' <<<"$ma")" "$(cluster_id "$1")"
}

# ctlCmd DIR ARGS...: ipfs-cluster-ctl against the REST API of the peer in DIR.
ctlCmd() {
	local dir=$1 port
	shift
	port=$(cluster_restapi_port "$dir") || return 1
	ipfs-cluster-ctl --host "/ip4/127.0.0.1/tcp/$port" "$@"
}

_tl_cluster_pid() { cat "$1/daemon.pid" 2>/dev/null || true; }

# _tl_cluster_alive DIR PID: the peer started in DIR as PID still runs: known by the
# start time recorded with its pid (so also before it has exec'ed the daemon, and never
# a recycled pid), else by its argv word DIR (--config DIR).
_tl_cluster_alive() {
	local st start=''
	st=$(_tl_stat "$2") || return 1
	if [ -f "$1/daemon.pid.start" ] && [ "$(_tl_cluster_pid "$1")" = "$2" ]; then
		start=$(cat "$1/daemon.pid.start" 2>/dev/null || true)
	fi
	if [ -n "$start" ]; then
		[ "${st#* }" = "$start" ]
	else
		_tl_has_arg "$2" "$1"
	fi
}

# _tl_cluster_forget DIR: remove the pid file of the peer in DIR.
_tl_cluster_forget() { rm -f "$1/daemon.pid" "$1/daemon.pid.start"; }

# cluster_daemon DIR [DAEMON ARGS...]: start `ipfs-cluster-service --config DIR daemon` in
# the background; pid in DIR/daemon.pid, output in DIR/daemon.log (previous one: .1).
cluster_daemon() {
	local dir=$1 pid st
	shift
	dir=$(cd "$dir" && pwd) || return 1
	pid=$(_tl_cluster_pid "$dir")
	if _tl_cluster_alive "$dir" "$pid"; then
		echo "cluster peer in $dir already runs (pid $pid)" >&2
		return 1
	fi
	[ -f "$dir/daemon.log" ] && mv -f "$dir/daemon.log" "$dir/daemon.log.1"
	_tl_add _TL_CLUSTERS "$dir"
	ipfs-cluster-service --config "$dir" daemon "$@" </dev/null >"$dir/daemon.log" 2>&1 3>&- 4>&- 5>&- 6>&- &
	pid=$!
	# The pid alone (for other readers), and its start time (see _tl_cluster_alive).
	echo "$pid" >"$dir/daemon.pid"
	if st=$(_tl_stat "$pid"); then
		echo "${st#* }" >"$dir/daemon.pid.start"
	else
		rm -f "$dir/daemon.pid.start"
	fi
	echo "cluster peer $dir: pid $pid" >&4
}

_tl_cluster_tail() {
	echo "===== last 60 lines of $1/daemon.log =====" >&2
	tail -n 60 "$1/daemon.log" >&2 2>/dev/null || true
}

# cluster_wait DIR [TIMEOUT]: poll GET http://127.0.0.1:<restapi port>/id until it answers.
cluster_wait() {
	local dir=$1 timeout=${2:-${CLUSTER_START_TIMEOUT:-60}} port pid deadline out
	dir=$(cd "$dir" && pwd) || return 1
	port=$(cluster_restapi_port "$dir")
	if [ -z "$port" ]; then
		echo "no restapi port in $dir/service.json" >&2
		return 1
	fi
	pid=$(_tl_cluster_pid "$dir")
	deadline=$((SECONDS + timeout))
	while :; do
		if ! _tl_cluster_alive "$dir" "$pid"; then
			echo "cluster peer in $dir (pid ${pid:-none}) is not running" >&2
			_tl_cluster_tail "$dir"
			return 1
		fi
		out=$(curl -s --max-time 2 "http://127.0.0.1:$port/id" 2>/dev/null) || out=''
		case $out in *'"id"'*) return 0 ;; esac
		if ((SECONDS >= deadline)); then
			echo "timeout (${timeout}s): no answer from http://127.0.0.1:$port/id" >&2
			_tl_cluster_tail "$dir"
			return 1
		fi
		sleep 0.5
	done
}

# cluster_start DIR [DAEMON ARGS...]: cluster_daemon, then cluster_wait.
cluster_start() {
	cluster_daemon "$@" && cluster_wait "$1"
}

# _tl_cluster_signal DIR SIGNAL: signal the daemon, wait up to $CLUSTER_STOP_TIMEOUT [30] s,
# then SIGKILL; remove the pid file. Idempotent.
_tl_cluster_signal() {
	local dir=$1 sig=$2 pid deadline
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd) || return 1
	pid=$(_tl_cluster_pid "$dir")
	if ! _tl_cluster_alive "$dir" "$pid"; then
		_tl_cluster_forget "$dir"
		return 0
	fi
	kill "-$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + ${CLUSTER_STOP_TIMEOUT:-30}))
	while _tl_cluster_alive "$dir" "$pid"; do
		if ((SECONDS >= deadline)); then
			if [ "$sig" = KILL ]; then
				echo "pid $pid survives SIGKILL" >&2
				return 1
			fi
			echo "cluster peer $dir (pid $pid) still runs after ${CLUSTER_STOP_TIMEOUT:-30}s: SIGKILL" >&2
			sig=KILL
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 10))
		fi
		sleep 0.2
	done
	# Reap it if it is our child (no zombie left behind).
	wait "$pid" 2>/dev/null || true
	_tl_cluster_forget "$dir"
}

# cluster_stop DIR: SIGTERM, wait up to 30 s, then SIGKILL.
cluster_stop() { _tl_cluster_signal "$1" TERM; }

# cluster_kill DIR: SIGKILL now (crash simulation); the config and data stay.
cluster_kill() { _tl_cluster_signal "$1" KILL; }

# ---------------------------------------------------------------------------
# Shortcuts for the files that mirror upstream's t0010-t0054
# ---------------------------------------------------------------------------

# test_kubo_start_free NAME: test_kubo_start NAME on two free loopback ports.
test_kubo_start_free() {
	local api swarm
	api=$(test_free_port) && swarm=$(test_free_port) || return 1
	test_kubo_start "$1" "$api" "$swarm"
}

# test_kubo_api_port NAME: the API port of kubo instance NAME (from its repo config).
test_kubo_api_port() {
	ipfsCmd "$1" config Addresses.API | sed -n 's#.*/tcp/\([0-9][0-9]*\).*#\1#p' | head -n 1
}

# cluster_init_peer DIR KUBO_NAME KEYSPACE|- [INIT ARGS...]: cluster_init DIR --randomports
# [ARGS], use kubo KUBO_NAME, and (unless KEYSPACE is -) .state.scyllastate on KEYSPACE.
# For crdt/raft: CLUSTER_DATASTORE=pebble cluster_init_peer DIR kubo0 - --consensus crdt
cluster_init_peer() {
	local dir=$1 kubo=$2 ks=$3 port
	shift 3
	port=$(test_kubo_api_port "$kubo")
	[ -n "$port" ] || {
		echo "no API port for kubo instance $kubo" >&2
		return 1
	}
	cluster_init "$dir" --randomports "$@" &&
		cluster_config_ipfs "$dir" "$port" || return 1
	if [ "$ks" != - ]; then
		cluster_config_scylla "$dir" "$ks" || return 1
	fi
}

# cluster_init_scylla_peer DIR KUBO_NAME [INIT ARGS...]: start kubo KUBO_NAME on free ports
# and init a scylla peer in DIR that uses it, on a fresh throwaway keyspace.
cluster_init_scylla_peer() {
	local dir=$1 kubo=$2 ks
	shift 2
	ks=$(test_keyspace) && test_kubo_start_free "$kubo" && cluster_init_peer "$dir" "$kubo" "$ks" "$@"
}

# cluster_pin_status DIR CID: the status of CID on every peer, one per line (ctl --enc=json).
cluster_pin_status() {
	ctlCmd "$1" --enc=json status "$2" | jq -r '.peer_map[]?.status'
}

# cluster_status_is DIR CID STATUS: every peer reports STATUS (e.g. pinned) for CID.
cluster_status_is() {
	local st
	st=$(cluster_pin_status "$1" "$2") || return 1
	[ -n "$st" ] && ! grep -qvx -- "$3" <<<"$st"
}

# cluster_status_count DIR: how many items `ctl status` lists.
cluster_status_count() {
	ctlCmd "$1" --enc=json status | jq -n '[inputs] | length'
}

# cluster_pin_count DIR: how many pins `ctl pin ls` lists.
cluster_pin_count() {
	ctlCmd "$1" --enc=json pin ls | jq -n '[inputs] | length'
}

# test_kubo_has_pin NAME CID [TYPE]: kubo instance NAME pins CID (TYPE: recursive|direct|...).
test_kubo_has_pin() {
	ipfsCmd "$1" pin ls --type="${3:-all}" "$2" 2>/dev/null | grep -q "^$2 "
}

# test_kubo_lacks_pin NAME CID [TYPE]: kubo instance NAME does not pin CID.
test_kubo_lacks_pin() { ! test_kubo_has_pin "$@"; }

# cluster_sees_peers DIR N: `peers ls` through the peer in DIR lists N peers.
cluster_sees_peers() { [ "$(ctlCmd "$1" --enc=json peers ls | jq -s length)" -eq "$2" ]; }

# cluster_has_metric DIR NAME: the peer in DIR has a valid metric NAME of its own.
cluster_has_metric() {
	local id
	id=$(cluster_id "$1") || return 1
	ctlCmd "$1" --enc=json health metrics "$2" 2>/dev/null |
		jq -e --arg id "$id" 'map(select(.peer == $id and .valid)) | length > 0' >/dev/null
}

# cluster_wait_metrics DIR [TIMEOUT [METRIC...]]: wait (default 20 s) until the peer in DIR
# has its own ping and freespace metrics (or the METRICs given). Adding content or allocating
# pins (-r N) right after the peer starts fails until they are there, as upstream.
cluster_wait_metrics() {
	local dir=$1 timeout=${2:-20} m
	shift 2 2>/dev/null || shift $#
	[ $# -gt 0 ] || set -- ping freespace
	for m in "$@"; do
		test_wait_for "$timeout" cluster_has_metric "$dir" "$m" || {
			echo "no $m metric from the peer in $dir after ${timeout}s" >&2
			return 1
		}
	done
}

# cluster_wait_for DIR TIMEOUT CMD...: like cluster_wait, but the peer is ready when CMD
# succeeds (e.g. a ctl call with --https or credentials, which cluster_wait's curl lacks).
# Fails at once, with the end of the log, if the daemon exits.
cluster_wait_for() {
	local dir=$1 timeout=$2 pid deadline
	shift 2
	dir=$(cd "$dir" && pwd) || return 1
	pid=$(_tl_cluster_pid "$dir")
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ! _tl_cluster_alive "$dir" "$pid"; then
			echo "cluster peer in $dir (pid ${pid:-none}) is not running" >&2
			_tl_cluster_tail "$dir"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "timeout (${timeout}s) waiting for: $*" >&2
			_tl_cluster_tail "$dir"
			return 1
		fi
		sleep 0.5
	done
}

# test_tls_cert DIR: a self-signed P-256 certificate for 127.0.0.1/localhost, valid one day,
# in DIR/server.crt and DIR/server.key.
test_tls_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$1/server.key" -out "$1/server.crt" >/dev/null 2>&1
}

# cluster_ready DIR: the peer logged that it is ready (its API answers earlier).
cluster_ready() { grep -q "IPFS Cluster is READY" "$1/daemon.log"; }
