# shellcheck shell=bash
# Test library of the sharness suite. A test script (bash) sets test_description, then
# `. lib/test-lib.sh`: Debian's sharness ($SHARNESS_LIB [/usr/share/sharness/sharness.sh])
# and the helpers of lib/peers.sh, with $TEST_BIN_DIR [<repo>/bin] first on PATH. Every
# daemon started through a helper is stopped when the script ends (passed, failed or died)
# and the keyspaces handed out by test_keyspace are dropped. Environment: SHARNESS_LIB,
# TEST_BIN_DIR, KUBO_BIN [$TEST_BIN_DIR/ipfs], SCYLLASTATE_TEST_HOSTS/PORT (as exported by
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

# sharness sets HOME to the trash directory: the helpers run the harness with
# HOME=$TEST_ORIG_HOME (its caches, Go's), and its binary is not built anew in each one.
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
# shellcheck source-path=SCRIPTDIR source=peers.sh
. "$TEST_LIB_DIR/peers.sh"

command -v jq >/dev/null 2>&1 && test_set_prereq JQ
command -v curl >/dev/null 2>&1 && test_set_prereq CURL
[ -x "$KUBO_BIN" ] && test_set_prereq KUBO
command -v ipfs-cluster-service >/dev/null 2>&1 && test_set_prereq CLUSTER_SERVICE
command -v ipfs-cluster-ctl >/dev/null 2>&1 && test_set_prereq CLUSTER_CTL

# Success: sharness runs `cleanup` commands before it deletes the trash directory. Failure or
# unexpected exit: sharness's EXIT trap calls die(), which reads $?.
cleanup _tl_reap_all
# shellcheck disable=SC2154 # die is defined by sharness
trap '_tl_code=$?; _tl_reap_all >&4 2>&1; (exit $_tl_code); die' EXIT

# test_cassandra_require: a test that FAILS (never skips) unless CQL is reachable.
test_cassandra_require() {
	test_expect_success "Cassandra/ScyllaDB answers on $(test_cassandra_host):$(test_cassandra_port)" \
		"_tl_h cluster db-answers '$(test_cassandra_host)' '$(test_cassandra_port)'"
	test_set_prereq CASSANDRA
}
