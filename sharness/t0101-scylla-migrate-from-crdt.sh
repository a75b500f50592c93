#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="a crdt+pebble peer's pinset moved to Scylla keeps every pin"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

KS=$(test_keyspace)

# every pin is pinned on every peer
pinned_everywhere() { [ "$(ctlCmd "$1" --enc=json status | jq -r '.peer_map[].status' | sort -u)" = pinned ]; }

test_expect_success 'kubo runs' '
	API=$(test_free_port) &&
	test_kubo_start kubo0 "$API" "$(test_free_port)"
'

test_expect_success 'a crdt peer on pebble pins 30 files with names and metadata' '
	CLUSTER_DATASTORE=pebble cluster_init crdt --consensus crdt --randomports &&
	jq -e ".consensus.crdt and .datastore.pebble and (.state | not)" crdt/service.json &&
	cluster_config_ipfs crdt "$API" &&
	cluster_start crdt && test_wait_for 60 cluster_ready crdt &&
	cluster_wait_metrics crdt 30 &&
	for i in $(seq 1 30); do
		printf "file %s of the crdt pinset\n" "$i" >"f$i" &&
		ctlCmd crdt add -q --name "file-$i" --metadata "n=$i" "f$i" >>added || return 1
	done &&
	test "$(wc -l <added)" -eq 30 &&
	test_wait_for 60 pinned_everywhere crdt &&
	ctlCmd crdt --enc=json pin ls | jq -c "{cid, name, metadata}" | sort >crdt-pins &&
	test "$(wc -l <crdt-pins)" -eq 30
'

test_expect_success 'the crdt state is exported while the peer is stopped' '
	cluster_stop crdt &&
	ipfs-cluster-service --config crdt state export -f export.json &&
	test "$(wc -l <export.json)" -eq 30
'

test_expect_success 'a scylla peer imports it into the shared pinset' '
	cluster_init scylla --randomports &&
	cluster_config_scylla scylla "$KS" &&
	cluster_config_ipfs scylla "$API" &&
	ipfs-cluster-service --config scylla state import -f export.json
'

test_expect_success 'the scylla peer lists every pin, name and metadata kept, all pinned' '
	cluster_start scylla && test_wait_for 60 cluster_ready scylla &&
	ctlCmd scylla --enc=json pin ls | jq -c "{cid, name, metadata}" | sort >scylla-pins &&
	test_cmp crdt-pins scylla-pins &&
	test_wait_for 60 pinned_everywhere scylla
'

test_done
