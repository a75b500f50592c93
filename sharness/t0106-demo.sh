#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="make demo (scripts/harness.sh demo) without a terminal: pins through 3 peers, says how to keep the metrics URL up, no colour codes, stops what it started"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

test_expect_success CASSANDRA,KUBO 'the demo runs to the end without a terminal' '
	DEMO=$PWD/demo &&
	HOME=$TEST_ORIG_HOME DEMO_DIR="$DEMO" DEMO_BIN_DIR=$TEST_BIN_DIR "$REPO_ROOT/scripts/harness.sh" demo </dev/null >demo.out 2>&1
'

test_expect_success CASSANDRA,KUBO 'every peer pinned the file; the metrics were served' '
	CID=$(sed -n "s/^added //p" demo.out) && test -n "$CID" &&
	test "$(grep -c "^    > peer[0-2] *: PINNED" demo.out)" -eq 3 &&
	grep -q "^ipfscluster_scyllastate_operation_duration_seconds_count{operation=\"add\",status=\"success\"} 1$" demo.out
'

test_expect_success CASSANDRA,KUBO 'next to the metrics URL it says how to keep it up (DEMO_WAIT=1)' '
	grep -A2 "^Prometheus metrics of peer0: http://127.0.0.1:[0-9]*/metrics$" demo.out >url.txt &&
	grep -q "DEMO_WAIT=1 make demo keeps the cluster and this URL up until you press Enter" url.txt
'

test_expect_success CASSANDRA,KUBO 'no colour codes in its output' '
	grep -q "^== metrics$" demo.out &&
	! grep -q "$(printf "\033")" demo.out
'

# started_pids: the pids of the kubo daemons and cluster peers the demo logged starting
started_pids() { sed -n -e "s/^kubo.sh\[kubo[0-9]\]: started pid \([0-9]*\):.*/\1/p" -e "s/^cluster peer .*: pid \([0-9]*\)$/\1/p" "$DEMO/helpers.log"; }

test_expect_success CASSANDRA,KUBO 'it stopped the 3 kubo daemons and 3 peers it started' '
	started_pids >pids &&
	test "$(wc -l <pids)" -eq 6 &&
	while read -r pid; do
		test_pid_gone "$pid" 1 || { echo "pid $pid still runs" >&2; return 1; }
	done <pids
'

test_done
