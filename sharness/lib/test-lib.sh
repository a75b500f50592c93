# shellcheck shell=bash
# Test library for the ipfs-cluster-scylla sharness suite.
#
# Source it from a test script (bash) after setting test_description:
#
#   #!/usr/bin/env bash
#   test_description="what this file tests"
#   . lib/test-lib.sh
#
# It loads Debian's sharness (SHARNESS_LIB, default /usr/share/sharness/sharness.sh),
# puts <repo>/bin first on PATH, and loads the helpers below from lib/peers.sh (shared
# with scripts/demo.sh); test_cassandra_require is defined here. Every daemon started
# through a helper is stopped when the script ends, whether its tests passed, failed
# or the script died (sharness `cleanup` plus an EXIT trap), and throwaway keyspaces
# handed out by test_keyspace are dropped.
#
# kubo:     test_kubo_start NAME API_PORT SWARM_PORT, test_kubo_stop NAME,
#           ipfsCmd NAME ARGS..., test_kubo_dir NAME, test_kubo_pid NAME
# database: test_cassandra_require, test_keyspace, test_keyspace_drop KS...
# cluster:  cluster_init DIR [INIT ARGS...], cluster_config_set DIR JQ_FILTER [JQ ARGS...],
#           cluster_config_scylla DIR KEYSPACE [HOSTS [PORT]], cluster_config_ipfs DIR API_PORT,
#           cluster_daemon DIR [DAEMON ARGS...], cluster_wait DIR [TIMEOUT],
#           cluster_start DIR [DAEMON ARGS...], cluster_stop DIR, cluster_kill DIR,
#           cluster_restapi_port DIR, cluster_id DIR, cluster_addr DIR, ctlCmd DIR ARGS...
# misc:     test_free_port, test_wait_for TIMEOUT CMD..., test_pid_gone PID [TIMEOUT]
#
# Environment: SHARNESS_LIB, TEST_BIN_DIR [<repo>/bin], KUBO_BIN [$TEST_BIN_DIR/ipfs],
# SCYLLASTATE_TEST_HOSTS [127.0.0.1], SCYLLASTATE_TEST_PORT [9042] (as exported by
# `scripts/cassandra.sh env`), CLUSTER_DATASTORE [scylla], CLUSTER_START_TIMEOUT [60],
# CLUSTER_STOP_TIMEOUT [30], KUBO_START_TIMEOUT [60].

if [ -z "${BASH_VERSION:-}" ]; then
	echo "lib/test-lib.sh needs bash" >&2
	exit 1
fi

TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARNESS_DIR=$(cd "$TEST_LIB_DIR/.." && pwd)
REPO_ROOT=$(cd "$SHARNESS_DIR/.." && pwd)
TEST_BIN_DIR=${TEST_BIN_DIR:-$REPO_ROOT/bin}
export TEST_LIB_DIR SHARNESS_DIR REPO_ROOT TEST_BIN_DIR

# Trash directories and test-results/ go to sharness/ wherever the script is run from.
: "${SHARNESS_TEST_DIRECTORY:=$SHARNESS_DIR}"
: "${SHARNESS_TEST_SRCDIR:=$SHARNESS_DIR}"
: "${SHARNESS_BUILD_DIRECTORY:=$TEST_BIN_DIR}"
SHARNESS_TEST_EXTENSION="sh"
SHARNESS_LIB=${SHARNESS_LIB:-/usr/share/sharness/sharness.sh}
export SHARNESS_TEST_DIRECTORY SHARNESS_TEST_SRCDIR SHARNESS_BUILD_DIRECTORY SHARNESS_TEST_EXTENSION

# sharness sets HOME to the trash directory: the helpers run scripts/cassandra.sh and
# scripts/kubo.sh with HOME=$TEST_ORIG_HOME (their caches, Go's); HARNESS_CACHE_DIR keeps a
# direct call from building scripts/harness.sh's binary anew in each trash directory.
TEST_ORIG_HOME=${TEST_ORIG_HOME:-$HOME}
HARNESS_CACHE_DIR=${HARNESS_CACHE_DIR:-${XDG_CACHE_HOME:-$TEST_ORIG_HOME/.cache}/ipfs-cluster-scylla}
export TEST_ORIG_HOME HARNESS_CACHE_DIR

if [ ! -f "$SHARNESS_LIB" ]; then
	echo "sharness not found at $SHARNESS_LIB (apt-get install sharness, or set SHARNESS_LIB)" >&2
	exit 1
fi
# Not followed by shellcheck: it would take every helper that only test bodies call
# (strings that sharness evals) for unreachable code (SC2317).
# shellcheck source=/dev/null
. "$SHARNESS_LIB"

# Instances live in the trash directory: removed with it on success, kept on failure.
export TEST_KUBO_DIR=$SHARNESS_TRASH_DIRECTORY/kubo
export TEST_LIB_STATE=$SHARNESS_TRASH_DIRECTORY/.test-lib
# The helpers (kubo, keyspaces, cluster peers), shared with scripts/demo.sh.
# shellcheck source-path=SCRIPTDIR source=peers.sh
. "$TEST_LIB_DIR/peers.sh"

command -v jq >/dev/null 2>&1 && test_set_prereq JQ
command -v curl >/dev/null 2>&1 && test_set_prereq CURL
[ -x "$KUBO_BIN" ] && test_set_prereq KUBO
command -v ipfs-cluster-service >/dev/null 2>&1 && test_set_prereq CLUSTER_SERVICE
command -v ipfs-cluster-ctl >/dev/null 2>&1 && test_set_prereq CLUSTER_CTL


# Success path: sharness runs `cleanup` commands before it deletes the trash directory.
cleanup _tl_reap_all
# Failure / unexpected exit: sharness's EXIT trap calls die(), which reads $?.
# shellcheck disable=SC2154 # die is defined by sharness
trap '_tl_code=$?; _tl_reap_all >&4 2>&1; (exit $_tl_code); die' EXIT

# test_cassandra_require: a test that FAILS (never skips) unless CQL is reachable.
test_cassandra_require() {
	local host port
	host=$(test_cassandra_host)
	port=$(test_cassandra_port)
	test_expect_success "Cassandra/ScyllaDB answers on $host:$port" "
		_tl_tcp_open '$host' '$port' || {
			echo 'nothing listens on $host:$port: start it with scripts/cassandra.sh start' \
				'(sharness/run-sharness-tests.sh does) or set SCYLLASTATE_TEST_HOSTS/PORT' >&2
			false
		}
	"
	test_set_prereq CASSANDRA
}
