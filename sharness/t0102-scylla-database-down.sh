#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="the daemon started while Cassandra is down retries with a clear log line and serves once it is up"

. "$(dirname "$0")/lib/test-lib.sh"

# A Cassandra of its own on 127.0.0.3, started after the daemon.
LATE_HOST=127.0.0.3
late_db() { HOME=$TEST_ORIG_HOME CASSANDRA_NAME=late CASSANDRA_HOSTS=$LATE_HOST "$REPO_ROOT/scripts/cassandra.sh" "$@" >&4 2>&1 3>&- 5>&- 6>&-; }
cleanup 'late_db stop || true'

retry_logged() { grep -q "database unreachable, retrying" "$1/daemon.log"; }

test_expect_success 'nothing serves CQL on the late host yet' '
	late_db stop &&
	test_must_fail timeout 2 bash -c "exec 3<>/dev/tcp/$LATE_HOST/9042"
'

test_expect_success 'a scylla peer starts and waits for the database' '
	test_kubo_start kubo0 "$(test_free_port)" "$(test_free_port)" &&
	cluster_init p --randomports &&
	cluster_config_scylla p "$(test_keyspace)" "$LATE_HOST" 9042 &&
	cluster_config_set p ".state.scyllastate.connect_timeout = \"2s\"" &&
	cluster_config_ipfs p "$(jq -r .Addresses.API "$(test_kubo_dir kubo0)/repo/config" | sed -n "s#.*/tcp/\([0-9]*\).*#\1#p")" &&
	cluster_start p &&
	test_wait_for 30 retry_logged p &&
	! cluster_ready p &&
	grep "database unreachable" p/daemon.log | head -1 >retry-line &&
	grep -q "$LATE_HOST" retry-line &&
	grep -q "ready_timeout" retry-line
'

test_expect_success 'the database comes up: the peer becomes ready and pins' '
	late_db start &&
	test_wait_for 120 cluster_ready p &&
	printf "after the database came up\n" >f &&
	CID=$(ctlCmd p add -q f) &&
	ctlCmd p pin ls "$CID" | grep -q "$CID"
'

test_expect_success 'the late database is stopped' '
	cluster_stop p &&
	late_db stop
'

test_done
