# shellcheck shell=bash
# A Cassandra node of the script's own with password authentication and mutual TLS
# (scripts/cassandra.sh with CASSANDRA_AUTH=1 CASSANDRA_TLS=1), for the tests of credentials,
# certificates and secrets. Source it after lib/test-lib.sh.
#
#   secure_db_start            start it, or reuse it when it runs; it is stopped when the
#                              script ends (passed, failed or died) if this script started it
#   secure_db CMD [ARGS...]    scripts/cassandra.sh CMD for it (cql, status, logs, ...)
#   secure_db_config DIR KS    point DIR's state.scyllastate at it: host, port, keyspace KS,
#                              its superuser and TLS with its CA and client certificate
#   secure_db_has_keyspace KS  keyspace KS exists in it
#
# After secure_db_start: SECDB_HOSTS, SECDB_PORT, SECDB_USERNAME, SECDB_PASSWORD, SECDB_TLS_CA,
# SECDB_TLS_CERT, SECDB_TLS_KEY (from `scripts/cassandra.sh env`).
# Environment: SECURE_DB_NAME [sharness-secure], SECURE_DB_ADDR [127.0.0.5].

SECURE_DB_NAME=${SECURE_DB_NAME:-sharness-secure}
SECURE_DB_ADDR=${SECURE_DB_ADDR:-127.0.0.5}
_SECURE_DB_STARTED=0

secure_db() {
	HOME=$TEST_ORIG_HOME CASSANDRA_NAME=$SECURE_DB_NAME CASSANDRA_HOSTS=$SECURE_DB_ADDR \
		CASSANDRA_AUTH=1 CASSANDRA_TLS=1 "$REPO_ROOT/scripts/cassandra.sh" "$@" 3>&- 5>&- 6>&-
}

secure_db_start() {
	if ! secure_db status >/dev/null 2>&1; then
		secure_db start >&4 2>&1 || return 1
		_SECURE_DB_STARTED=1
	fi
	eval "$(CASSANDRA_ENV_PREFIX=SECDB secure_db env)"
}

_secure_db_stop() {
	if [ "$_SECURE_DB_STARTED" = 1 ]; then
		secure_db stop >&4 2>&1 || true
		_SECURE_DB_STARTED=0
	fi
	return 0
}

# Stop it on success (sharness cleanup) and on failure or death (EXIT trap of lib/test-lib.sh,
# extended here).
cleanup _secure_db_stop
# shellcheck disable=SC2154 # die is defined by sharness
trap '_tl_code=$?; _secure_db_stop; _tl_reap_all >&4 2>&1; (exit $_tl_code); die' EXIT

secure_db_config() {
	# shellcheck disable=SC2016 # jq variables
	cluster_config_set "$1" '.state.scyllastate.hosts = [$host]
		| .state.scyllastate.port = ($port | tonumber)
		| .state.scyllastate.keyspace = $ks
		| .state.scyllastate.username = $user
		| .state.scyllastate.password = $pw
		| .state.scyllastate.tls = {enabled: true, ca_file: $ca, cert_file: $cert, key_file: $key}' \
		--arg host "$SECDB_HOSTS" --arg port "$SECDB_PORT" --arg ks "$2" \
		--arg user "$SECDB_USERNAME" --arg pw "$SECDB_PASSWORD" \
		--arg ca "$SECDB_TLS_CA" --arg cert "$SECDB_TLS_CERT" --arg key "$SECDB_TLS_KEY"
}

secure_db_has_keyspace() {
	secure_db cql "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$1'" 2>/dev/null |
		grep -qx "$1"
}
