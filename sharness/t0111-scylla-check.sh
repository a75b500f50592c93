#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service scylla check: verdicts, --json, exit codes, read-only next to a running peer; the scylla health metric in ipfs-cluster-ctl health, also while the database is down"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

# A Cassandra of its own on 127.0.0.6, stopped and started again under a running peer.
DOWN_HOST=127.0.0.6
own_db() { HOME=$TEST_ORIG_HOME CASSANDRA_NAME=check-down CASSANDRA_HOSTS=$DOWN_HOST "$CASSANDRA_SH" "$@" >&4 2>&1 3>&- 5>&- 6>&-; }
cleanup 'own_db clean || true'

# cql STMT: run a statement on the main test database, print the rows.
cql() { HOME=$TEST_ORIG_HOME "$CASSANDRA_SH" cql "$@" 2>&4 3>&- 5>&- 6>&-; }

check() { ipfs-cluster-service --config "$1" scylla check "${@:2}"; }

# jq_finding FILE CHECK [SUBJECT]: the status of that finding in a --json report.
jq_finding() {
	jq -r --arg c "$2" --arg s "${3:-}" '[.findings[] | select(.check == $c and ($s == "" or .subject == $s)) | .status] | join(",")' "$1"
}

# metric_value DIR: the value of the peer's own "scylla" metric, as ipfs-cluster-ctl shows it.
metric_value() {
	ctlCmd "$1" --enc=json health metrics scylla | jq -r --arg id "$(cluster_id "$1")" 'map(select(.peer == $id)) | .[0].value // empty'
}
metric_is() { [ "$(metric_value "$1")" = "$2" ]; }
metric_failing() { case $(metric_value "$1") in "failing: "*) return 0 ;; esac; return 1; }

test_expect_success CASSANDRA,JQ 'a peer folder on a keyspace that does not exist yet' '
	KS=$(test_keyspace) &&
	cluster_init p --randomports &&
	cluster_config_scylla p "$KS" &&
	jq -e ".informer.scyllahealth.metric_ttl" p/service.json
'

test_expect_success CASSANDRA,JQ 'check --json: FAIL, exit 1, and the keyspace is not created' '
	test_expect_code 1 check p --json >missing.json 2>missing.err &&
	jq -e ".verdict == \"FAIL\" and .failures == 1 and .keyspace == \"$KS\"" missing.json &&
	test "$(jq_finding missing.json exists "$KS")" = FAIL &&
	test "$(jq_finding missing.json reach)" = OK &&
	jq -e ".facts.keyspace.exists == false" missing.json &&
	cql "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '\''$KS'\''" >ks-rows &&
	! grep -q "$KS" ks-rows
'

test_expect_success CASSANDRA 'the text report ends with the verdict, has hints and no colour codes' '
	test_expect_code 1 check p >missing.txt 2>&1 &&
	tail -n 1 missing.txt | grep -qx "scylla check: FAIL (1 failure)" &&
	grep -q "^  FAIL  $KS  keyspace $KS does not exist" missing.txt &&
	grep -q "^        hint: the first peer to start creates it" missing.txt &&
	! grep -q "$(printf "\033")" missing.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'next to the running peer (which holds the folder lock): OK, exit 0' '
	test_kubo_start_free kubo0 &&
	cluster_config_ipfs p "$(test_kubo_api_port kubo0)" &&
	cluster_start p &&
	test_wait_for 60 cluster_has_metric p scylla &&
	check p --json >ok.json &&
	jq -e ".verdict == \"OK\" and .failures == 0 and .warnings == 0" ok.json &&
	test "$(jq_finding ok.json version)" = OK &&
	test "$(jq_finding ok.json latency)" = OK &&
	id=$(cluster_id p) &&
	jq -e --arg id "$id" ".facts.feed.peers | map(select(.id == \$id and .self and .alive)) | length == 1" ok.json &&
	check p >ok.txt &&
	tail -n 1 ok.txt | grep -qx "scylla check: OK"
'

test_expect_success CASSANDRA,KUBO,JQ 'the newest change of the feed is reported' '
	printf "scylla check\n" >f &&
	CID=$(ctlCmd p add -q f) &&
	check p --json >pinned.json &&
	jq -e --arg c "$CID" ".facts.feed.newest_event.cid == \$c and .facts.feed.newest_event.op == \"pin\"" pinned.json
'

test_expect_success CASSANDRA,KUBO,JQ 'a warning exits 0, and 2 with --strict' '
	CLUSTER_SCYLLASTATE_EVENTRETENTION=720h check p --json >warn.json &&
	jq -e ".verdict == \"WARN\" and .warnings == 1" warn.json &&
	test "$(jq_finding warn.json gc_grace)" = WARN &&
	test_expect_code 2 env CLUSTER_SCYLLASTATE_EVENTRETENTION=720h ipfs-cluster-service --config p scylla check --strict >warn.txt &&
	tail -n 1 warn.txt | grep -qx "scylla check: WARN (1 warning)"
'

test_expect_success CASSANDRA,KUBO,JQ 'credentials a database without authentication ignores: a warning; the password is never printed' '
	env CLUSTER_SCYLLASTATE_USERNAME=someone CLUSTER_SCYLLASTATE_PASSWORD=hunter2-sharness \
		ipfs-cluster-service --config p scylla check --json >pw.json 2>pw.err &&
	test "$(jq_finding pw.json login)" = WARN &&
	jq -e ".facts.hosts[0].login == \"unused\" and .facts.hosts[0].username == \"someone\"" pw.json &&
	env CLUSTER_SCYLLASTATE_USERNAME=someone CLUSTER_SCYLLASTATE_PASSWORD=hunter2-sharness \
		ipfs-cluster-service --config p scylla check >pw.txt 2>&1 &&
	! grep -q hunter2-sharness pw.json pw.err pw.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'the check wrote nothing: the feed lists only the peer' '
	jq -e "[.facts.feed.peers[].id] == [\"$(cluster_id p)\"]" pinned.json &&
	check p --json >after.json &&
	jq -e "[.facts.feed.peers[].id] == [\"$(cluster_id p)\"]" after.json
'

test_expect_success CASSANDRA,KUBO 'health metrics lists scylla, whose value is ok' '
	ctlCmd p health metrics >names.txt &&
	grep -qx scylla names.txt &&
	ctlCmd p health metrics scylla >scylla.txt &&
	grep -q "^$(cluster_id p) | scylla: ok | Expires in" scylla.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'allocation still works with the metric: pin with a replication factor' '
	printf "allocated\n" >g &&
	CID2=$(ctlCmd p add -q --rmin 1 --rmax 1 g) &&
	test_wait_for 30 cluster_status_is p "$CID2" pinned &&
	ctlCmd p --enc=json pin ls "$CID2" | jq -e ".allocations | length == 1"
'

test_expect_success CASSANDRA,KUBO 'the first peer stops' '
	cluster_stop p
'

test_expect_success KUBO,JQ 'a peer on a database of its own reports ok' '
	own_db start &&
	cluster_init q --randomports &&
	cluster_config_scylla q "$(test_keyspace)" "$DOWN_HOST" 9042 &&
	cluster_config_set q ".informer.scyllahealth.metric_ttl = \"4s\" | .state.scyllastate.timeout = \"2s\" | .state.scyllastate.connect_timeout = \"2s\"" &&
	cluster_config_ipfs q "$(test_kubo_api_port kubo0)" &&
	cluster_start q &&
	test_wait_for 60 metric_is q ok
'

test_expect_success KUBO,JQ 'the database stops: the metric says failing, the log says why, check fails' '
	own_db stop &&
	test_wait_for 60 metric_failing q &&
	metric_value q >failing.txt &&
	cat failing.txt &&
	grep -q "database calls are failing" q/daemon.log &&
	test_expect_code 1 check q --json >down.json &&
	test "$(jq_finding down.json reach "$DOWN_HOST")" = FAIL
'

test_expect_success KUBO,JQ 'the database comes back: the metric says ok again, and the log says so' '
	CASSANDRA_KEEP_DATA=1 own_db start &&
	test_wait_for 120 metric_is q ok &&
	grep -q "database calls succeed again" q/daemon.log &&
	check q --json >up.json &&
	jq -e ".verdict == \"OK\"" up.json
'

test_expect_success KUBO 'the second peer and its database stop' '
	cluster_stop q &&
	own_db clean
'

test_done
