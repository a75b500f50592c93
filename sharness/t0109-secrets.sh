#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="no log line, error, displayed configuration, metric or export shows the database password or the TLS client key"

. "$(dirname "$0")/lib/test-lib.sh"
# shellcheck source=lib/secure-db.sh
. "$TEST_LIB_DIR/secure-db.sh"

rand() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
# A distinctive password for a role of our own, and a wrong one (an attempted password is a
# secret too).
PW="S3cr3t-$(rand 8)-Pw"
BADPW="Wr0ng-$(rand 8)-Pw"
ROLE=sh_role_$(rand 6)

create_role() {
	secure_db cql "CREATE ROLE $ROLE WITH PASSWORD = '$PW' AND LOGIN = true" \
		"GRANT ALL PERMISSIONS ON ALL KEYSPACES TO $ROLE" >/dev/null 2>&1
}
drop_role() { secure_db cql "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true; }
cleanup drop_role

# The secrets: the password, the wrong password and every base64 line of the client key.
secret_lines() {
	printf '%s\n%s\n' "$PW" "$BADPW"
	grep -v -- '-----' "$SECDB_TLS_KEY"
}

# no_secret FILE...: none of the files holds a secret (nor a PEM private key header).
no_secret() {
	local f s found=0
	for f in "$@"; do
		[ -s "$f" ] || { echo "$f is missing or empty: nothing was checked" >&2; return 1; }
		while IFS= read -r s; do
			[ -n "$s" ] || continue
			if grep -qF -- "$s" "$f"; then
				echo "$f shows a secret (${s:0:6}...)" >&2
				found=1
			fi
		done < <(secret_lines)
		if grep -q "PRIVATE KEY" "$f"; then
			echo "$f shows a private key" >&2
			found=1
		fi
	done
	return "$found"
}

# A wrapper that runs ipfs-cluster-service with --debug (full debug logging) wherever the
# helpers start it.
mkdir -p debug-bin
cat >debug-bin/ipfs-cluster-service <<EOF
#!/bin/sh
exec "$TEST_BIN_DIR/ipfs-cluster-service" --debug "\$@"
EOF
chmod +x debug-bin/ipfs-cluster-service

metrics() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
has_scylla_metrics() { metrics | grep -q '^ipfscluster_scyllastate_operation_duration_seconds_count'; }
status_is() { ctlCmd p --enc=json status "$1" | jq -e --arg s "$2" '[.peer_map[].status] | all(. == $s)' >/dev/null; }

test_expect_success 'a Cassandra of our own with password authentication and mutual TLS' '
	secure_db_start &&
	grep -q "PRIVATE KEY" "$SECDB_TLS_KEY"
'

test_expect_success 'a role with a distinctive password' '
	create_role
'

test_expect_success 'kubo and a peer on that role, with a TLS client key and every metric on' '
	test_kubo_start_free k0 &&
	cluster_init_peer p k0 - &&
	KS=$(test_keyspace) &&
	secure_db_config p "$KS" &&
	MPORT=$(test_free_port) &&
	cluster_config_set p ".state.scyllastate.username = \$u | .state.scyllastate.password = \$pw
		| .state.scyllastate.metrics_enabled = true
		| .observations.metrics.enable_stats = true
		| .observations.metrics.prometheus_endpoint = \$ep" \
		--arg u "$ROLE" --arg pw "$PW" --arg ep "/ip4/127.0.0.1/tcp/$MPORT" &&
	grep -qF "$PW" p/service.json
'

test_expect_success 'the peer starts with --debug and logs its configuration' '
	PATH="$PWD/debug-bin:$PATH" cluster_start p &&
	test_wait_for 90 cluster_ready p &&
	grep -q "configuration:" p/daemon.log &&
	grep -q "XXX_hidden_XXX" p/daemon.log &&
	grep -q "DEBUG" p/daemon.log &&
	cluster_wait_metrics p 30
'

test_expect_success 'errors: a pin that cannot be allocated, a pin IPFS cannot make, a bad CID' '
	printf "secret test %s\n" "$(rand 8)" >f1 &&
	CID1=$(ipfsCmd k0 add -q --only-hash f1) &&
	test_must_fail ctlCmd p pin add --replication-min 5 --replication-max 5 "$CID1" >pin-alloc.out 2>&1 &&
	test_must_fail ctlCmd p pin add not-a-cid >pin-bad.out 2>&1 &&
	test_kubo_stop k0 &&
	ctlCmd p pin add --no-status "$CID1" >pin-fail.out 2>&1 &&
	test_wait_for 60 status_is "$CID1" pin_error &&
	ctlCmd p status "$CID1" >status-fail.out 2>&1 &&
	grep -q PIN_ERROR status-fail.out
'

test_expect_success 'the Prometheus endpoint serves the store metrics' '
	test_wait_for 30 has_scylla_metrics &&
	metrics >metrics.out &&
	grep -q "^ipfscluster_scyllastate_database_healthy" metrics.out
'

test_expect_success 'the peer restarts with -l debug' '
	cluster_stop p &&
	IPFS_CLUSTER_LOG_LEVEL=debug cluster_start p &&
	test_wait_for 90 grep -q "scylla consensus ready" p/daemon.log &&
	grep -q "configuration:" p/daemon.log &&
	metrics >metrics2.out &&
	cluster_stop p
'

test_expect_success 'state export with --debug and with -l debug holds the pin' '
	ipfs-cluster-service --config p --debug state export -f export1.json >export1.log 2>&1 &&
	ipfs-cluster-service --config p -l debug state export >export2.json 2>export2.log &&
	grep -q "$CID1" export1.json &&
	grep -q "$CID1" export2.json &&
	grep -q "DEBUG" export1.log
'

test_expect_success 'a start with a wrong password (and --debug) fails with the cause' '
	cp -r p wrong && rm -f wrong/cluster.lock &&
	cluster_config_set wrong ".state.scyllastate.password = \$pw" --arg pw "$BADPW" &&
	test_expect_code 1 ipfs-cluster-service --config wrong --debug daemon >wrong.out 2>&1 &&
	grep -q "refused the credentials" wrong.out
'

test_expect_success 'the search finds the secrets where they are (service.json, the key file)' '
	! no_secret p/service.json 2>/dev/null &&
	! no_secret "$SECDB_TLS_KEY" 2>/dev/null &&
	grep -qF "$SECDB_TLS_KEY" p/service.json
'

test_expect_success 'no log, error, displayed configuration, metric or export shows a secret' '
	no_secret p/daemon.log p/daemon.log.1 pin-alloc.out pin-bad.out pin-fail.out status-fail.out \
		metrics.out metrics2.out export1.json export1.log export2.json export2.log wrong.out
'

test_expect_success 'the keyspace and the role are dropped' '
	secure_db cql "DROP KEYSPACE IF EXISTS $KS" >/dev/null &&
	drop_role
'

test_done
