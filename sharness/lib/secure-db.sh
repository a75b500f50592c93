# shellcheck shell=bash
# The script's own Cassandra with password authentication and mutual TLS ($SECURE_DB_NAME
# [sharness-secure] on $SECURE_DB_ADDR [127.0.0.5]), for the tests of credentials,
# certificates and secrets. Source it after lib/test-lib.sh. secure_db_start starts it
# unless it runs (then it is stopped at the end) and sets SECDB_HOSTS, SECDB_PORT,
# SECDB_USERNAME, SECDB_PASSWORD, SECDB_TLS_CA, SECDB_TLS_CERT, SECDB_TLS_KEY;
# secure_db CMD is scripts/cassandra.sh CMD for it; secure_db_config DIR KS points DIR's
# state.scyllastate at it (keyspace KS, its superuser, TLS with its client certificate).
export SECURE_DB_NAME=${SECURE_DB_NAME:-sharness-secure} SECURE_DB_ADDR=${SECURE_DB_ADDR:-127.0.0.5}

secure_db() {
	HOME=$TEST_ORIG_HOME CASSANDRA_NAME=$SECURE_DB_NAME CASSANDRA_HOSTS=$SECURE_DB_ADDR \
		CASSANDRA_AUTH=1 CASSANDRA_TLS=1 _tl_h cassandra "$@"
}
secure_db_start() {
	local vars
	vars=$(_tl_h cluster secure-db-start 2>&4) && eval "$vars"
}
secure_db_config() { _tl_h cluster secure-db-config "$1" "$2"; }
secure_db_has_keyspace() {
	secure_db cql "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$1'" 2>/dev/null |
		grep -qx "$1"
}
