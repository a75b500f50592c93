#!/usr/bin/env bash
# Runs a command with the test databases up:
#   - "main":   one plain node on 127.0.0.1:9042 (SCYLLASTATE_TEST_*)
#   - "secure": one node on 127.0.0.2:9042 with password auth and mutual TLS
#               (SCYLLASTATE_TEST_SECURE_*), unless WITH_SECURE=0
# Instances that already run are reused and left running; the ones this
# script starts are stopped when the command ends, also on failure or Ctrl-C.
#
#   scripts/with-cassandra.sh go test ./...
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cass="$here/cassandra.sh"
started=()

stop_started() {
	local name
	for name in "${started[@]}"; do
		CASSANDRA_NAME=$name "$cass" stop || true
	done
}
trap stop_started EXIT
trap 'exit 130' INT TERM

# instance NAME HOSTS PREFIX [VAR=VALUE...]: start unless running, export env.
instance() {
	local name=$1 hosts=$2 prefix=$3
	shift 3
	if ! env "$@" CASSANDRA_NAME="$name" CASSANDRA_HOSTS="$hosts" "$cass" status >/dev/null 2>&1; then
		# Recorded only once started: a start refused because the instance runs
		# (e.g. on other hosts) must not stop it on exit. A failed or interrupted
		# start stops its nodes itself.
		env "$@" CASSANDRA_NAME="$name" CASSANDRA_HOSTS="$hosts" "$cass" start
		started+=("$name")
	fi
	eval "$(env "$@" CASSANDRA_NAME="$name" CASSANDRA_HOSTS="$hosts" CASSANDRA_ENV_PREFIX="$prefix" "$cass" env)"
}

"$cass" fetch
instance main 127.0.0.1 SCYLLASTATE_TEST
if [ "${WITH_SECURE:-1}" != 0 ]; then
	instance secure 127.0.0.2 SCYLLASTATE_TEST_SECURE CASSANDRA_AUTH=1 CASSANDRA_TLS=1
fi

"$@"
