#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service state export for crdt, raft and scylla (mirrors upstream t0052)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

# valid_ndjson FILE: every line of FILE is one JSON object with a cid
valid_ndjson() {
	local n
	n=$(wc -l <"$1") &&
		test "$(jq -c "select(type == \"object\" and (.cid | type) == \"string\")" "$1" | wc -l)" -eq "$n"
}

# pin_and_export DIR TEXT: add TEXT to kubo, pin it through the peer in DIR, wait for PINNED,
# stop the peer and `state export -f export.json`; the CID is in $cid.
pin_and_export() {
	cid=$(echo "$2" | ipfsCmd kubo0 add -q --pin=false) &&
		ctlCmd "$1" pin add "$cid" >/dev/null &&
		test_wait_for 15 cluster_status_is "$1" "$cid" pinned &&
		cluster_stop "$1" &&
		rm -f export.json &&
		ipfs-cluster-service --debug --config "$1" state export -f export.json >export.log 2>&1 &&
		test -f export.json
}

test_expect_success KUBO 'kubo starts' '
	test_kubo_start_free kubo0
'

# --- crdt -----------------------------------------------------------------------------------

test_expect_success KUBO,JQ 'a crdt peer starts' '
	CLUSTER_DATASTORE=pebble cluster_init_peer crdt kubo0 - --consensus crdt &&
	cluster_start crdt
'

test_expect_success KUBO,JQ 'state export saves the correct state to the expected file (crdt)' '
	pin_and_export crdt test_52-1 &&
	jq -r .cid export.json | grep -qx "$cid" &&
	test "$(wc -l <export.json)" -eq 1 &&
	valid_ndjson export.json
'

test_expect_success KUBO,JQ 'state export to stdout gives the same NDJSON, logs on stderr (crdt)' '
	ipfs-cluster-service --config crdt state export >stdout.json 2>stderr.log &&
	test_cmp export.json stdout.json
'

# --- raft -----------------------------------------------------------------------------------

test_expect_success KUBO,JQ 'a raft peer starts' '
	CLUSTER_DATASTORE=pebble cluster_init_peer raft kubo0 - --consensus raft &&
	cluster_start raft &&
	test_wait_for 30 eval "ctlCmd raft pin ls >/dev/null 2>&1"
'

test_expect_success KUBO,JQ 'state export saves the correct state to the expected file (raft)' '
	pin_and_export raft test_52-2 &&
	jq -r .cid export.json | grep -qx "$cid" &&
	test "$(wc -l <export.json)" -eq 1 &&
	valid_ndjson export.json
'

# --- scylla ---------------------------------------------------------------------------------

test_expect_success CASSANDRA,KUBO,JQ 'a scylla peer starts on a throwaway keyspace' '
	KS=$(test_keyspace) &&
	cluster_init_peer scylla kubo0 "$KS" &&
	cluster_start scylla
'

test_expect_success CASSANDRA,KUBO,JQ 'state export saves the correct state to the expected file (scylla)' '
	pin_and_export scylla test_52-3 &&
	jq -r .cid export.json | grep -qx "$cid" &&
	test "$(wc -l <export.json)" -eq 1 &&
	valid_ndjson export.json &&
	cp export.json scylla-export.json
'

test_expect_success CASSANDRA,KUBO,JQ 'state export to stdout gives the same NDJSON, logs on stderr (scylla)' '
	ipfs-cluster-service --config scylla state export >stdout.json 2>stderr.log &&
	test_cmp scylla-export.json stdout.json
'

test_expect_success CASSANDRA,KUBO,JQ 'the export keeps the pin options (name, metadata, replication, mode)' '
	cluster_start scylla &&
	cid2=$(echo test_52-4 | ipfsCmd kubo0 add -q --pin=false) &&
	ctlCmd scylla pin add --no-status --name n52 --metadata k=v --mode direct "$cid2" >/dev/null &&
	cluster_stop scylla &&
	ipfs-cluster-service --config scylla state export -f export2.json 2>/dev/null &&
	test "$(wc -l <export2.json)" -eq 2 &&
	jq -c "select(.cid == \"$cid2\") | [.name, .metadata.k, .mode]" export2.json >opts.txt &&
	echo "[\"n52\",\"v\",\"direct\"]" >expected &&
	test_cmp expected opts.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'another config folder on the same keyspace exports the same shared pinset' '
	cluster_init_peer other kubo0 "$KS" &&
	ipfs-cluster-service --config other state export -f other.json 2>/dev/null &&
	jq -c . other.json | sort >a &&
	jq -c . export2.json | sort >b &&
	test_cmp b a
'

test_expect_success CASSANDRA,JQ 'state export of an empty pinset is an empty file (scylla)' '
	KS2=$(test_keyspace) &&
	cluster_init_peer empty kubo0 "$KS2" &&
	: >nothing.json &&
	ipfs-cluster-service --config empty state import -f nothing.json 2>/dev/null &&
	ipfs-cluster-service --config empty state export -f empty.json 2>/dev/null &&
	test -f empty.json &&
	test ! -s empty.json
'

test_expect_success CASSANDRA 'state export and cleanup of a keyspace that does not exist fail, name it and create nothing (scylla)' '
	KS3=$(test_keyspace) &&
	cluster_init_peer typo kubo0 "$KS3" &&
	test_expect_code 1 ipfs-cluster-service --config typo state export -f typo.json >typo.log 2>&1 &&
	grep -q "keyspace \"$KS3\" does not exist: check scyllastate.keyspace" typo.log &&
	test_expect_code 1 ipfs-cluster-service --config typo state cleanup --confirm-keyspace "$KS3" >typo-cleanup.log 2>&1 &&
	grep -q "keyspace \"$KS3\" does not exist" typo-cleanup.log &&
	! test_has_keyspace "$KS3"
'

test_expect_success CASSANDRA 'state export with an unreachable database exits 1 quickly' '
	cluster_init_peer down kubo0 "$KS" &&
	cluster_config_scylla down "$KS" 127.0.0.1 "$(test_free_port)" &&
	cluster_config_set down ".state.scyllastate.connect_timeout = \"2s\" | .state.scyllastate.timeout = \"2s\"" &&
	test_expect_code 1 timeout 60 ipfs-cluster-service --config down state export -f down.json >down.log 2>&1
'

test_done
