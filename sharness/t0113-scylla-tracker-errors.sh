#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="pins that fail are kept in the database (tracker_errors): ipfs-cluster-ctl status lists them with their error, also after a restart; recover and unpin clear them; the pin_error metric counts them"

. "$(dirname "$0")/lib/test-lib.sh"

# How many pins fail. Their CIDs are those of files added to no kubo (ipfs add --only-hash):
# the peer's kubo is online but alone, so it waits for the blocks until the peer gives up
# after ipfshttp.pin_timeout (1s here, 2m by default).
N=50
# feed_overlap (W), as short as the database timeout below allows (it must exceed the longest
# write plus 5s of clock skew). The feed's position moves at its sweeps, every W, to W before
# the sweep, and a restart reads again the changes since W before the position: a pin made
# less than 3W before a restart is tracked (so retried) again. The restart below waits for
# that, so that the errors it lists come from the database only.
OVERLAP=7

test_cassandra_require

# cql STMT: run a statement on the main test database, print the rows.
cql() { HOME=$TEST_ORIG_HOME "$CASSANDRA_SH" cql "$@" 2>&4 3>&- 5>&- 6>&-; }

# error_cids: the CIDs `status --filter error` lists in pin_error with an error message, sorted.
error_cids() {
	ctlCmd p --enc=json status --filter error |
		jq -r '.cid as $c | .peer_map[] | select(.status == "pin_error" and (.error | length > 0)) | $c' | sort
}
errors_are() { [ "$(error_cids | wc -l)" -eq "$1" ]; }

# statuses: "COUNT STATUS" of plain `status` (every pin, every peer), on one line.
statuses() { ctlCmd p --enc=json status | jq -r '.peer_map[].status' | sort | uniq -c | awk '{printf "%s %s ", $1, $2}'; }
statuses_are() { [ "$(statuses)" = "$1" ]; }

# stored_rows: the peer column of every row of tracker_errors (one line a row).
stored_rows() { cql "SELECT peer FROM $KS.tracker_errors" | grep -v '^ *$'; }
stored_rows_are() { [ "$(stored_rows | wc -l)" -eq "$1" ]; }

# pin_error_metric: the peer's ipfscluster_pins_pin_error, as Prometheus would scrape it.
pin_error_metric() {
	curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "ipfscluster_pins_pin_error" { print $2 }'
}
pin_error_metric_is() { [ "$(pin_error_metric)" = "$1" ]; }

# metric_matches_list: the metric equals the number `status --filter error` lists (within
# 10 s: the gauge is recorded by the sweep after a change); says both when it does not.
metric_matches_list() {
	test_wait_for 10 pin_error_metric_is "$(error_cids | wc -l)" || {
		echo "ipfscluster_pins_pin_error: $(pin_error_metric), listed: $(error_cids | wc -l)" >&2
		return 1
	}
}

# cid_of I / file_of I: the CID and the file of number I (1..N).
cid_of() { sed -n "${1}p" cids; }
file_of() { printf 'content/f%0*d\n' "${#N}" "$1"; }

test_expect_success CASSANDRA,KUBO,JQ,CURL 'a scylla peer whose kubo cannot fetch gives up a pin after 1s' '
	cluster_init_scylla_peer p kubo0 &&
	KS=$(jq -r .state.scyllastate.keyspace p/service.json) &&
	METRICS_PORT=$(test_free_port) &&
	cluster_config_set p "
		.ipfs_connector.ipfshttp.pin_timeout = \"1s\"
		| .pin_tracker.stateless.concurrent_pins = 50
		| .consensus.scylla.repair_interval = \"168h\"
		| .consensus.scylla.feed_overlap = \"${OVERLAP}s\"
		| .state.scyllastate.timeout = \"2s\"
		| .state.scyllastate.retry_policy.num_retries = 0
		| .observations.metrics.prometheus_endpoint = \$ma" --arg ma "/ip4/127.0.0.1/tcp/$METRICS_PORT" &&
	cluster_start p --stats &&
	test_wait_for 60 cluster_ready p &&
	cluster_wait_metrics p 30
'
# repair_interval: a slice repair tracks again the pins IPFS lacks, errors included, which
# then show pin_queued for a second; the counts below are exact, so no repair runs here.

test_expect_success CASSANDRA,KUBO 'the CIDs of files no kubo holds' '
	mkdir content &&
	for i in $(seq 1 $N); do
		printf "tracker error %s of %s %s\n" "$i" "$$" "$(od -An -N8 -tx1 /dev/urandom | tr -d " ")" >"$(file_of "$i")" || return 1
	done &&
	ipfsCmd kubo0 add --only-hash -q content/f* >cids &&
	test "$(sort -u cids | wc -l)" -eq $N &&
	sort cids >cids.sorted
'

test_expect_success CASSANDRA,KUBO,JQ "pins of the $N CIDs all end in pin_error, listed by status --filter error" '
	while read -r c; do
		ctlCmd p pin add --no-status "$c" >/dev/null || return 1
	done <cids &&
	PINNED_AT=$SECONDS &&
	test_wait_for 60 errors_are $N &&
	error_cids >listed &&
	test_cmp cids.sorted listed
'

test_expect_success CASSANDRA,KUBO,JQ 'status CID shows PIN_ERROR with the error (the pin timed out)' '
	ctlCmd p status "$(cid_of 1)" >one.txt &&
	grep -q "PIN_ERROR: context canceled" one.txt &&
	ctlCmd p status --filter error >errors.txt &&
	test "$(grep -c "PIN_ERROR: context canceled" errors.txt)" -eq $N
'

test_expect_success CASSANDRA,KUBO,JQ "plain status lists the $N pins in pin_error" '
	statuses_are "$N pin_error "
'

test_expect_success CASSANDRA,KUBO 'the errors are rows of tracker_errors, one per CID, under the peer' '
	test_wait_for 10 stored_rows_are $N &&
	stored_rows | sort -u >peers.txt &&
	cluster_id p >expect-peer.txt &&
	test_cmp expect-peer.txt peers.txt
'

test_expect_success CASSANDRA,KUBO,JQ,CURL "the metric ipfscluster_pins_pin_error is $N, the number listed" '
	metric_matches_list &&
	pin_error_metric_is $N
'

test_expect_success CASSANDRA,KUBO,JQ 'once kubo has the blocks, recover CID pins it; it leaves the error list and the table' '
	c1=$(cid_of 1) &&
	test "$(ipfsCmd kubo0 add -q --pin=false "$(file_of 1)")" = "$c1" &&
	ctlCmd p recover "$c1" >/dev/null &&
	test_wait_for 30 cluster_status_is p "$c1" pinned &&
	test_kubo_has_pin kubo0 "$c1" recursive &&
	test_wait_for 10 errors_are $((N - 1)) &&
	! error_cids | grep -qx "$c1" &&
	test_wait_for 10 stored_rows_are $((N - 1))
'

test_expect_success CASSANDRA,KUBO,JQ 'recover (all) pins those kubo now has; the others fail again and stay listed' '
	for i in 2 3 4 5; do
		ipfsCmd kubo0 add -q --pin=false "$(file_of $i)" || return 1
	done >fixed &&
	sed -n 2,5p cids >expect-fixed &&
	test_cmp expect-fixed fixed &&
	ctlCmd p recover >recovered.txt &&
	test_wait_for 30 statuses_are "$((N - 5)) pin_error 5 pinned " &&
	while read -r c; do
		test_kubo_has_pin kubo0 "$c" recursive || return 1
	done <fixed &&
	sed -n "6,\$p" cids | sort >still &&
	error_cids >listed2 &&
	test_cmp still listed2 &&
	test_wait_for 10 stored_rows_are $((N - 5))
'

test_expect_success CASSANDRA,KUBO,CURL 'after the recovers the metric equals the number listed' '
	metric_matches_list &&
	pin_error_metric_is $((N - 5))
'

test_expect_success CASSANDRA,KUBO,JQ 'after a restart the peer lists the same errors at once, from the database' '
	sleep $((PINNED_AT + 3 * OVERLAP + 2 - SECONDS > 0 ? PINNED_AT + 3 * OVERLAP + 2 - SECONDS : 0)) &&
	cluster_stop p &&
	cluster_start p --stats &&
	test_wait_for 60 cluster_ready p &&
	{
		statuses_are "$((N - 5)) pin_error 5 pinned " || {
			statuses >&2
			grep "caught up" p/daemon.log >&2
			false
		}
	} &&
	grep -q "caught up in .*: 0 changes read" p/daemon.log &&
	error_cids >listed3 &&
	test_cmp still listed3
'

test_expect_success CASSANDRA,KUBO,CURL 'after the restart the metric counts the stored errors' '
	metric_matches_list &&
	pin_error_metric_is $((N - 5))
'

test_expect_success CASSANDRA,KUBO,JQ 'unpin of a CID in error removes it from the error list and the table' '
	u=$(cid_of $N) &&
	ctlCmd p pin rm --no-status "$u" >/dev/null &&
	test_wait_for 10 errors_are $((N - 6)) &&
	! error_cids | grep -qx "$u" &&
	test_wait_for 10 stored_rows_are $((N - 6)) &&
	test_wait_for 10 statuses_are "$((N - 6)) pin_error 5 pinned "
'

test_expect_success CASSANDRA,KUBO,CURL 'after the unpin the metric equals the number listed' '
	metric_matches_list
'

test_expect_success CASSANDRA,KUBO 'the peer stops' '
	cluster_stop p
'

test_done
