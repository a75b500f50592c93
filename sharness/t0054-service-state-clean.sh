#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service state cleanup for crdt, raft and scylla; export + cleanup + import is a no-op (mirrors upstream t0054)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

# exported_cids DIR: the sorted CIDs of `state export` (peer stopped)
exported_cids() {
	ipfs-cluster-service --config "$1" state export 2>/dev/null | jq -r .cid | sort
}

# pin_one DIR TEXT: add TEXT to kubo (unpinned), pin it through the peer in DIR and wait for
# PINNED; the CID is in $cid.
pin_one() {
	cid=$(echo "$2" | ipfsCmd kubo0 add -q --pin=false) &&
		ctlCmd "$1" pin add --no-status "$cid" >/dev/null &&
		test_wait_for 15 cluster_status_is "$1" "$cid" pinned &&
		test_kubo_has_pin kubo0 "$cid" recursive
}

# cleanup_refreshes DIR TEXT CLEANUP ARGS...: upstream's "state cleanup refreshes state on restart"
cleanup_refreshes() {
	local dir=$1 text=$2
	shift 2
	pin_one "$dir" "$text" &&
		ctlCmd "$dir" pin ls "$cid" | grep -q "$cid" &&
		ctlCmd "$dir" status "$cid" | grep -q "PINNED" &&
		test "$(cluster_status_count "$dir")" -eq 1 &&
		cluster_stop "$dir" &&
		ipfs-cluster-service --config "$dir" state cleanup "$@" >cleanup.log 2>&1 &&
		cluster_start "$dir" &&
		test "$(cluster_status_count "$dir")" -eq 0 &&
		test "$(cluster_pin_count "$dir")" -eq 0
}

# export_cleanup_import DIR TEXT CLEANUP ARGS...: upstream's "export + cleanup + import == noop"
export_cleanup_import() {
	local dir=$1 text=$2
	shift 2
	pin_one "$dir" "$text" &&
		test "$(cluster_status_count "$dir")" -eq 1 &&
		cluster_stop "$dir" &&
		ipfs-cluster-service --config "$dir" state export -f import.json 2>/dev/null &&
		ipfs-cluster-service --config "$dir" state cleanup "$@" >cleanup.log 2>&1 &&
		test -z "$(exported_cids "$dir")" &&
		ipfs-cluster-service --config "$dir" state import -f import.json >import.log 2>&1 &&
		ipfs-cluster-service --config "$dir" state export -f reexport.json 2>/dev/null &&
		test_cmp import.json reexport.json &&
		cluster_start "$dir" &&
		ctlCmd "$dir" pin ls "$cid" | grep -q "$cid" &&
		test_wait_for 15 cluster_status_is "$dir" "$cid" pinned &&
		test "$(cluster_status_count "$dir")" -eq 1 &&
		test_kubo_has_pin kubo0 "$cid" recursive
}

test_expect_success KUBO 'kubo starts' '
	test_kubo_start_free kubo0
'

# --- crdt -----------------------------------------------------------------------------------

test_expect_success KUBO,JQ 'a crdt peer starts' '
	CLUSTER_DATASTORE=pebble cluster_init_peer crdt kubo0 - --consensus crdt &&
	cluster_start crdt
'

test_expect_success KUBO,JQ 'state cleanup refreshes state on restart (crdt)' '
	cleanup_refreshes crdt test_54-crdt-1 -f
'

test_expect_success KUBO,JQ 'export + cleanup + import == noop (crdt)' '
	export_cleanup_import crdt test_54-crdt-2 -f
'

test_expect_success KUBO 'the crdt peer stops' '
	cluster_stop crdt
'

# --- raft -----------------------------------------------------------------------------------

test_expect_success KUBO,JQ 'a raft peer starts' '
	CLUSTER_DATASTORE=pebble cluster_init_peer raft kubo0 - --consensus raft &&
	cluster_start raft &&
	test_wait_for 30 eval "ctlCmd raft pin ls >/dev/null 2>&1"
'

test_expect_success KUBO,JQ 'state cleanup refreshes state on restart (raft)' '
	cleanup_refreshes raft test_54-raft-1 -f
'

test_expect_success KUBO,JQ 'export + cleanup + import == noop (raft)' '
	export_cleanup_import raft test_54-raft-2 -f
'

test_expect_success KUBO 'the raft peer stops' '
	cluster_stop raft
'

# --- scylla ---------------------------------------------------------------------------------

test_expect_success CASSANDRA,KUBO,JQ 'a scylla peer starts on a throwaway keyspace' '
	KS=$(test_keyspace) &&
	cluster_init_peer scylla kubo0 "$KS" &&
	cluster_start scylla
'

test_expect_success CASSANDRA,KUBO,JQ 'state cleanup -f without --confirm-keyspace exits 1 and keeps the pins (scylla)' '
	pin_one scylla test_54-scylla-0 &&
	KEEP=$cid &&
	cluster_stop scylla &&
	test_expect_code 1 ipfs-cluster-service --config scylla state cleanup -f >refused.log 2>&1 &&
	grep -q -- "--confirm-keyspace" refused.log &&
	grep -q "$KS" refused.log &&
	echo "$KEEP" >expected &&
	exported_cids scylla >actual &&
	test_cmp expected actual
'

test_expect_success CASSANDRA,KUBO,JQ 'state cleanup with a wrong --confirm-keyspace exits 1 and keeps the pins (scylla)' '
	test_expect_code 1 ipfs-cluster-service --config scylla state cleanup -f --confirm-keyspace "${KS}x" >wrong.log 2>&1 &&
	grep -q "$KS" wrong.log &&
	exported_cids scylla >actual &&
	test_cmp expected actual
'

test_expect_success CASSANDRA,KUBO,JQ 'state cleanup with no answer at the prompt keeps the pins (scylla)' '
	ipfs-cluster-service --config scylla state cleanup </dev/null >prompt.log 2>&1
	exported_cids scylla >actual &&
	test_cmp expected actual
'

test_expect_success CASSANDRA,KUBO,JQ 'typing the keyspace at the prompt confirms the cleanup (scylla)' '
	echo "$KS" | ipfs-cluster-service --config scylla state cleanup >typed.log 2>&1 &&
	test -z "$(exported_cids scylla)" &&
	cluster_start scylla
'

test_expect_success CASSANDRA,KUBO,JQ 'state cleanup refreshes state on restart (scylla, --confirm-keyspace)' '
	cleanup_refreshes scylla test_54-scylla-1 -f --confirm-keyspace "$KS"
'

test_expect_success CASSANDRA,KUBO,JQ 'export + cleanup + import == noop (scylla)' '
	export_cleanup_import scylla test_54-scylla-2 -f --confirm-keyspace "$KS"
'

test_expect_success CASSANDRA,KUBO,JQ 'state cleanup from another folder while the peer runs: the peer unpins (scylla)' '
	pin_one scylla test_54-scylla-3 &&
	LIVE=$cid &&
	test "$(cluster_pin_count scylla)" -eq 2 &&
	cluster_init_peer admin kubo0 "$KS" &&
	ipfs-cluster-service --config admin state cleanup -f --confirm-keyspace "$KS" >live.log 2>&1 &&
	test_wait_for 20 eval "test \"\$(cluster_pin_count scylla)\" -eq 0" &&
	test_wait_for 20 eval "! test_kubo_has_pin kubo0 $LIVE" &&
	test_wait_for 20 eval "test \"\$(cluster_status_count scylla)\" -eq 0"
'

test_expect_success CASSANDRA,JQ 'state cleanup of one keyspace leaves another keyspace alone (scylla)' '
	KS2=$(test_keyspace) &&
	cluster_init_peer other kubo0 "$KS2" &&
	echo "{\"cid\":\"$LIVE\",\"type\":\"pin\",\"mode\":\"recursive\",\"max_depth\":-1,\"allocations\":[],\"replication_factor_min\":-1,\"replication_factor_max\":-1}" >other.json &&
	ipfs-cluster-service --config other state import -f other.json >other.log 2>&1 &&
	ipfs-cluster-service --config admin state cleanup -f --confirm-keyspace "$KS" >again.log 2>&1 &&
	echo "$LIVE" >expected &&
	exported_cids other >actual &&
	test_cmp expected actual
'

test_done
