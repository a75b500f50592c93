#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="a bad configuration or a connection that cannot work ends the daemon's start at once: exit 1, the cause, nothing in the database"

. "$(dirname "$0")/lib/test-lib.sh"
# shellcheck source=lib/secure-db.sh
. "$TEST_LIB_DIR/secure-db.sh"

# start_fails DIR MAX: `daemon` in DIR exits with 1 within MAX seconds (output in DIR.out),
# which is far below its ready_timeout.
start_fails() {
	local dir=$1 max=$2 t0=$SECONDS rc=0
	rm -f "$dir/cluster.lock"
	timeout -k 5 $((max + 20)) ipfs-cluster-service --config "$dir" daemon </dev/null >"$dir.out" 2>&1 || rc=$?
	echo "$dir: exit $rc after $((SECONDS - t0))s" >&2
	if [ "$rc" -ne 1 ] || [ $((SECONDS - t0)) -gt "$max" ]; then
		tail -n 5 "$dir.out" >&2
		return 1
	fi
}

# said DIR TEXT...: the daemon's final error (from its last "error:" line on) says each TEXT.
said() {
	local dir=$1 line t
	shift
	line=$(awk '/^error: /{buf=""} /^error: /||buf!=""{buf=buf $0 "\n"} END{printf "%s", buf}' "$dir.out")
	for t in "$@"; do
		case $line in *"$t"*) ;; *)
			echo "the error of $dir does not say \"$t\": $line" >&2
			return 1
			;;
		esac
	done
}

# main_has_keyspace KS: keyspace KS exists in the main test database.
main_has_keyspace() {
	HOME=$TEST_ORIG_HOME "$CASSANDRA_SH" cql "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$1'" 2>/dev/null 4>&- |
		grep -qx "$1"
}

# variant NAME JQ_FILTER [JQ ARGS...]: a copy of the good configuration, edited.
variant() {
	local name=$1
	shift
	rm -rf "$name" && cp -r good "$name" && cluster_config_set "$name" "$@"
}

test_cassandra_require

test_expect_success 'a scylla peer configuration on a fresh keyspace, ready_timeout 10m' '
	cluster_init good --randomports &&
	KS=$(test_keyspace) &&
	cluster_config_scylla good "$KS" &&
	cluster_config_set good ".consensus.scylla.ready_timeout = \"10m\""
'

test_expect_success 'values out of range in both sections: exit 1, every one listed, no keyspace' '
	variant many ".state.scyllastate.port = 0 | .state.scyllastate.consistency = \"MOSTLY\"
		| .state.scyllastate.schema_mode = \"drop\" | .consensus.scylla.poll_interval = \"1ns\"
		| .consensus.scylla.recover_slices = 0" &&
	start_fails many 20 &&
	for f in scyllastate.port scyllastate.consistency scyllastate.schema_mode \
		consensus.scylla.poll_interval consensus.scylla.recover_slices "5 configuration errors"; do
		grep -q "$f" many.out || { echo "not listed: $f" >&2; false; } || return 1
	done &&
	! main_has_keyspace "$KS"
'

test_expect_success 'wrong JSON types and a bad value: exit 1, every one listed, no keyspace' '
	variant types ".state.scyllastate.port = \"9042\" | .state.scyllastate.tls.enabled = \"yes\"
		| .consensus.scylla.feed_overlap = 5" &&
	start_fails types 20 &&
	grep -q "scyllastate.port: got a JSON string, want a whole number" types.out &&
	grep -q "scyllastate.tls.enabled: got a JSON string, want true or false" types.out &&
	grep -q "consensus.scylla.feed_overlap: got a JSON number, want a string" types.out &&
	! main_has_keyspace "$KS"
'

test_expect_success 'an unsafe keyspace name never reaches the database' '
	variant unsafe ".state.scyllastate.keyspace = \"x; DROP KEYSPACE $KS\"" &&
	start_fails unsafe 20 &&
	said unsafe scyllastate.keyspace "not a valid CQL identifier"
'

test_expect_success 'feed_overlap shorter than a write can take: exit 1 before connecting, no keyspace' '
	variant overlap ".consensus.scylla.feed_overlap = \"10s\"" &&
	start_fails overlap 20 &&
	said overlap consensus.scylla.feed_overlap &&
	! main_has_keyspace "$KS"
'

test_expect_success 'a Cassandra of our own with password authentication and mutual TLS' '
	secure_db_start
'

test_expect_success 'the good secure configuration starts (the cases below fail for their one mistake)' '
	cp -r good sgood && SKS=$(test_keyspace) && secure_db_config sgood "$SKS" &&
	cluster_start sgood &&
	test_wait_for 60 grep -q "scylla consensus ready" sgood/daemon.log &&
	cluster_stop sgood &&
	secure_db_has_keyspace "$SKS" &&
	secure_db cql "DROP KEYSPACE $SKS" >/dev/null
'

# secure NAME JQ_FILTER [JQ ARGS...]: a secure configuration on a fresh keyspace, then edited.
secure() {
	local name=$1
	shift
	rm -rf "$name" && cp -r good "$name" && secure_db_config "$name" "$(test_keyspace)" &&
		cluster_config_set "$name" "$@"
}
no_keyspace() { ! secure_db_has_keyspace "$(jq -r .state.scyllastate.keyspace "$1/service.json")"; }

test_expect_success 'a wrong password: exit 1 at once, the credentials named, no keyspace' '
	secure wrongpw ".state.scyllastate.password = \"not-the-password\"" &&
	start_fails wrongpw 20 &&
	said wrongpw "refused the credentials" "scyllastate.username" &&
	! grep -q not-the-password wrongpw.out &&
	no_keyspace wrongpw
'

test_expect_success 'no credentials for a server that requires them: exit 1 at once' '
	secure nocreds "del(.state.scyllastate.username) | del(.state.scyllastate.password)" &&
	start_fails nocreds 20 &&
	said nocreds "refused the credentials" "authentication required" &&
	no_keyspace nocreds
'

test_expect_success 'a CA that did not sign the server certificate: exit 1 at once, TLS named' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=another test CA" -keyout other-ca-key.pem -out other-ca.pem 2>/dev/null &&
	secure wrongca ".state.scyllastate.tls.ca_file = \$ca" --arg ca "$PWD/other-ca.pem" &&
	start_fails wrongca 20 &&
	said wrongca "TLS" "ca_file" "unknown authority" &&
	no_keyspace wrongca
'

test_expect_success 'an expired client certificate: exit 1 at once, its expiry named' '
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out old-key.pem 2>/dev/null &&
	openssl req -new -key old-key.pem -subj "/CN=cassandra" -out old.csr 2>/dev/null &&
	openssl x509 -req -in old.csr -CA "$SECDB_TLS_CA" -CAkey "$(dirname "$SECDB_TLS_CA")/ca-key.pem" \
		-set_serial 0x5ec -days -1 -out old.pem 2>/dev/null &&
	secure expired ".state.scyllastate.tls.cert_file = \$c | .state.scyllastate.tls.key_file = \$k" \
		--arg c "$PWD/old.pem" --arg k "$PWD/old-key.pem" &&
	start_fails expired 20 &&
	said expired scyllastate.tls.cert_file expired "$PWD/old.pem" &&
	no_keyspace expired
'

test_expect_success 'a missing key file: exit 1 at once, the file named' '
	secure nokey ".state.scyllastate.tls.key_file = \$k" --arg k "$PWD/no-such-key.pem" &&
	start_fails nokey 20 &&
	said nokey "$PWD/no-such-key.pem" "no such file" &&
	no_keyspace nokey
'

test_expect_success 'no client certificate for a server that requires one: exit 1 at once' '
	secure nocert "del(.state.scyllastate.tls.cert_file) | del(.state.scyllastate.tls.key_file)" &&
	start_fails nocert 20 &&
	said nocert "TLS" "certificate required" &&
	no_keyspace nocert
'

test_expect_success 'TLS towards a server that speaks no TLS: exit 1 at once, named' '
	secure notls ".state.scyllastate.hosts = [\$h] | .state.scyllastate.port = (\$p | tonumber)" \
		--arg h "$(test_cassandra_host)" --arg p "$(test_cassandra_port)" &&
	start_fails notls 20 &&
	said notls "does not speak TLS" &&
	! main_has_keyspace "$(jq -r .state.scyllastate.keyspace notls/service.json)"
'

# Only an unreachable database is retried, up to ready_timeout; then the daemon exits 1 with
# the cause (the consensus' own ready_timeout ends the start through Fatal; upstream's
# cluster timeout is set later, since it would hang the process).
test_expect_success 'an unreachable database is retried until ready_timeout, then exit 1 with the cause' '
	DOWN=$(test_free_port) &&
	variant unreach ".state.scyllastate.port = ($DOWN | tonumber) | .state.scyllastate.connect_timeout = \"1s\"
		| .consensus.scylla.ready_timeout = \"8s\"" &&
	t0=$SECONDS &&
	start_fails unreach 30 &&
	test $((SECONDS - t0)) -ge 8 &&
	grep -q "database unreachable, retrying in" unreach.out &&
	said unreach ready_timeout "127.0.0.1" "$DOWN"
'

test_done
