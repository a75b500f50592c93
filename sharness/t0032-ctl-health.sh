#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-ctl health: graph, metrics, alerts on one scylla peer (mirrors upstream t0032)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

ctl() { ctlCmd peer0 "$@"; }

test_expect_success CASSANDRA,KUBO,JQ 'kubo and one scylla peer start (with its metrics)' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_start peer0 &&
	cluster_wait_metrics peer0
'

test_expect_success CASSANDRA,KUBO 'health graph succeeds and prints as expected' '
	ctl health graph >graph.dot &&
	grep -q "^digraph cluster" graph.dot &&
	grep -q "C0 -> I0" graph.dot
'

test_expect_success CASSANDRA,KUBO,JQ,CURL 'health graph names this peer and its kubo (REST /health/graph)' '
	id=$(cluster_id peer0) &&
	ipfs_id=$(ipfsCmd kubo0 config Identity.PeerID) &&
	grep -q "group=\"$id\"" graph.dot &&
	grep -q "group=\"$ipfs_id\"" graph.dot &&
	curl -sf "http://127.0.0.1:$(cluster_restapi_port peer0)/health/graph" >graph.json &&
	test "$(jq -r .cluster_id graph.json)" = "$id" &&
	test "$(jq -r ".cluster_links | keys | length" graph.json)" -eq 1 &&
	test "$(jq -r --arg id "$id" ".cluster_to_ipfs[\$id]" graph.json)" = "$ipfs_id" &&
	test "$(jq -r --arg id "$id" ".cluster_trust_links[\$id]" graph.json)" = true
'

test_expect_success CASSANDRA,KUBO 'health metrics with a metric name succeeds' '
	ctl health metrics ping &&
	ctl health metrics freespace
'

test_expect_success CASSANDRA,KUBO 'health metrics without a metric name lists the metric names' '
	ctl health metrics >names.txt &&
	grep -qx ping names.txt &&
	grep -qx freespace names.txt &&
	grep -qx pinqueue names.txt &&
	grep -qx "tag:group" names.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'list the latest metrics logged by this peer' '
	pid=$(ctl --enc=json id | jq -r .id) &&
	ctl health metrics freespace >freespace.txt &&
	grep -q -E "^$pid \| freespace: [0-9]+ (G|M|K)?B \| Expires in: [0-9]+ seconds from now" freespace.txt &&
	ctl --enc=json health metrics ping >ping.json &&
	test "$(jq -r "map(select(.peer == \"$pid\")) | .[0].valid" ping.json)" = true
'

test_expect_success CASSANDRA,KUBO 'health metrics with an unknown metric name lists nothing' '
	ctl health metrics no-such-metric >none.txt &&
	test ! -s none.txt
'

test_expect_success CASSANDRA,KUBO 'health alerts succeeds (none on a healthy single peer)' '
	ctl health alerts >alerts.txt &&
	test ! -s alerts.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'health alerts --enc=json succeeds' '
	ctl --enc=json health alerts >alerts.json &&
	jq -e "length == 0" alerts.json
'

test_expect_success CASSANDRA,KUBO 'health bandwidth succeeds' '
	ctl health bandwidth >bw.txt
'

test_done
