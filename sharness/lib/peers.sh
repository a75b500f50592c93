# shellcheck shell=bash
# The helpers of the sharness suite (lib/test-lib.sh sources it; bash, not sharness): kubo
# daemons, ipfs-cluster-service peers (one a folder DIR), throwaway keyspaces. The work is
# done by `scripts/harness cluster` (internal/harness/cluster; `harness cluster help` tells
# each command), whose binary is found once here. The includer sets TEST_KUBO_DIR and
# TEST_LIB_STATE; fd 4 receives what the helpers say about processes; _tl_reap_all (on exit)
# stops what they started and drops the keyspaces.

PEERS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=${REPO_ROOT:-$(cd "$PEERS_LIB_DIR/../.." && pwd)}
TEST_BIN_DIR=${TEST_BIN_DIR:-$REPO_ROOT/bin}
KUBO_BIN=${KUBO_BIN:-$TEST_BIN_DIR/ipfs}
CASSANDRA_SH=$REPO_ROOT/scripts/cassandra.sh
TEST_ORIG_HOME=${TEST_ORIG_HOME:-$HOME}
: "${TEST_KUBO_DIR:?set TEST_KUBO_DIR before sourcing peers.sh}"
: "${TEST_LIB_STATE:?set TEST_LIB_STATE before sourcing peers.sh}"
mkdir -p "$TEST_LIB_STATE"
PATH=$TEST_BIN_DIR:$PATH
IPFS_TELEMETRY=off # never report telemetry from anything started here
_TL_HARNESS=$(HOME=$TEST_ORIG_HOME "$REPO_ROOT/scripts/harness.sh" path) || return 1
export REPO_ROOT TEST_BIN_DIR KUBO_BIN CASSANDRA_SH TEST_ORIG_HOME PATH IPFS_TELEMETRY TEST_KUBO_DIR TEST_LIB_STATE

_tl_h() { HARNESS_ROOT=$REPO_ROOT "$_TL_HARNESS" "$@" 3>&- 5>&- 6>&-; }
_tl_reap_all() { _tl_h cluster reap >&4 || true; }

# test_wait_for TIMEOUT CMD...: run CMD every 0.5 s until it succeeds or TIMEOUT seconds pass.
test_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.5
	done
}
test_free_port() { _tl_h cluster free-port; }
test_pid_gone() { _tl_h cluster pid-gone "$1" "${2:-5}"; } # PID [TIMEOUT]: PID has exited
test_tls_cert() { _tl_h cluster tls-cert "$1"; }

# kubo: instances of scripts/kubo.sh in $TEST_KUBO_DIR, API and swarm on 127.0.0.1, no gateway
test_kubo_dir() { printf '%s/%s\n' "$TEST_KUBO_DIR" "$1"; }
test_kubo_pid() { cat "$(test_kubo_dir "$1")/daemon.pid" 2>/dev/null || true; }
test_kubo_start() { # NAME API_PORT SWARM_PORT
	[ -x "$KUBO_BIN" ] || { echo "kubo binary $KUBO_BIN is missing: run scripts/kubo.sh build" >&2; return 1; }
	HOME=$TEST_ORIG_HOME KUBO_DIR=$TEST_KUBO_DIR KUBO_NAME=$1 KUBO_API_PORT=$2 KUBO_SWARM_PORT=$3 \
		KUBO_GATEWAY_PORT=off _tl_h kubo start >&4 2>&1
}
test_kubo_start_free() { test_kubo_start "$1" "$(test_free_port)" "$(test_free_port)"; }
test_kubo_stop() { [ ! -d "$(test_kubo_dir "$1")" ] || HOME=$TEST_ORIG_HOME KUBO_DIR=$TEST_KUBO_DIR KUBO_NAME=$1 _tl_h kubo stop >&4 2>&1; }
ipfsCmd() { IPFS_PATH="$(test_kubo_dir "$1")/repo" "$KUBO_BIN" "${@:2}"; }
test_kubo_api_port() { ipfsCmd "$1" config Addresses.API | sed -n 's#.*/tcp/\([0-9][0-9]*\).*#\1#p' | head -n 1; }
test_kubo_has_pin() { ipfsCmd "$1" pin ls --type="${3:-all}" "$2" 2>/dev/null | grep -q "^$2 "; } # NAME CID [TYPE]

# the database: $SCYLLASTATE_TEST_HOSTS [127.0.0.1], $SCYLLASTATE_TEST_PORT [9042]
test_cassandra_host() { local h=${SCYLLASTATE_TEST_HOSTS:-127.0.0.1}; printf '%s\n' "${h%%,*}"; }
test_cassandra_port() { printf '%s\n' "${SCYLLASTATE_TEST_PORT:-9042}"; }
test_keyspace() { _tl_h cluster keyspace; }
test_has_keyspace() { # KS: the test database has keyspace KS
	HOME=$TEST_ORIG_HOME _tl_h cassandra cql "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$1'" 2>/dev/null |
		grep -qx "$1"
}

# cluster peers: ipfs-cluster-service and ipfs-cluster-ctl of $TEST_BIN_DIR
cluster_config_set() { # DIR JQ_FILTER [JQ ARGS...]: rewrite DIR/service.json with jq
	local f=$1/service.json filter=$2
	shift 2
	if jq "$@" "$filter" "$f" >"$f.tmp.$$"; then mv -f "$f.tmp.$$" "$f"; else
		rm -f "$f.tmp.$$"
		return 1
	fi
}
cluster_init() { _tl_h cluster init "$@"; }
cluster_init_peer() { _tl_h cluster init-peer "$@"; }
cluster_init_scylla_peer() { # DIR KUBO_NAME [INIT ARGS...]: kubo on free ports, a fresh keyspace
	local ks
	ks=$(test_keyspace) && test_kubo_start_free "$2" && cluster_init_peer "$1" "$2" "$ks" "${@:3}"
}
cluster_config_scylla() { _tl_h cluster config-scylla "$@"; }
cluster_config_ipfs() { _tl_h cluster config-ipfs "$@"; }
cluster_restapi_port() { _tl_h cluster port "$1"; }
cluster_id() { _tl_h cluster id "$1"; }
cluster_daemon() { _tl_h cluster daemon "$@" >&4; }
cluster_start() { _tl_h cluster start "$@" >&4; }
cluster_stop() { _tl_h cluster stop "$1" >&4; }
cluster_ready() { grep -q "IPFS Cluster is READY" "$1/daemon.log"; }
ctlCmd() { _tl_h cluster ctl "$@"; }
cluster_status_is() { _tl_h cluster status-is "$@"; }
cluster_status_count() { _tl_h cluster status-count "$1"; }
cluster_pin_count() { _tl_h cluster pin-count "$1"; }
cluster_has_metric() { _tl_h cluster has-metric "$1" "$2"; }
cluster_wait_metrics() { _tl_h cluster wait-metrics "$@"; }

# cluster_wait_for DIR TIMEOUT CMD...: until CMD succeeds (e.g. a ctl call with --https or
# credentials); fails at once, with the end of the log, if the daemon exits.
cluster_wait_for() {
	local dir=$1 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		_tl_h cluster running "$dir" || return 1
		((SECONDS < deadline)) || { echo "timeout waiting for: $*" >&2; _tl_h cluster tail "$dir"; return 1; }
		sleep 0.5
	done
}
