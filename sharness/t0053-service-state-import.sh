#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service state import for crdt, raft and scylla (mirrors upstream t0053)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

# test_data/importState (from upstream) holds the pin of "test_53\n". It has no "type",
# "mode" nor "max_depth": upstream (crdt, raft) imports it as a direct pin (max_depth 0).
IMPORT_CID=QmbrCtydGyPeHiLURSPMqrvE5mCgMCwFYq3UD4XLCeAYw6

# exported_cids DIR: the sorted CIDs of `state export` (peer stopped)
exported_cids() {
	ipfs-cluster-service --config "$1" state export 2>/dev/null | jq -r .cid | sort
}

# pinned_everywhere DIR CID [KUBO PIN TYPE]: in the pinset, PINNED, and pinned in kubo0
pinned_everywhere() {
	ctlCmd "$1" pin ls "$2" | grep -q "$2" &&
		test_wait_for 15 cluster_status_is "$1" "$2" pinned &&
		test_kubo_has_pin kubo0 "$2" "${3:-all}"
}

# exported_pin DIR CID: the exported pin of CID without its timestamp (peer stopped)
exported_pin() {
	ipfs-cluster-service --config "$1" state export 2>/dev/null |
		jq -c --arg c "$2" "select(.cid == \$c) | del(.timestamp)"
}

test_expect_success KUBO 'kubo starts and holds the content of test_data/importState' '
	test_kubo_start_free kubo0 &&
	cp "$SHARNESS_TEST_DIRECTORY/test_data/importState" importState &&
	test "$(jq -r .cid importState)" = "$IMPORT_CID" &&
	test "$(echo test_53 | ipfsCmd kubo0 add -q --pin=false)" = "$IMPORT_CID" &&
	echo "not exactly json" >badImportFile
'

# --- crdt -----------------------------------------------------------------------------------

test_expect_success KUBO,JQ 'a crdt peer starts, pins something and stops' '
	CLUSTER_DATASTORE=pebble cluster_init_peer crdt kubo0 - --consensus crdt &&
	cluster_start crdt &&
	OTHER=$(echo t0053-crdt-other | ipfsCmd kubo0 add -q --pin=false) &&
	ctlCmd crdt pin add --no-status "$OTHER" >/dev/null &&
	test_wait_for 15 cluster_status_is crdt "$OTHER" pinned &&
	cluster_stop crdt
'

test_expect_success KUBO 'state import fails on an incorrect format (crdt)' '
	test_expect_code 1 ipfs-cluster-service --config crdt state import -f badImportFile >bad.log 2>&1
'

test_expect_success KUBO,JQ 'state import succeeds on a correct format and replaces the pinset (crdt)' '
	ipfs-cluster-service --config crdt state import -f importState >import.log 2>&1 &&
	echo "$IMPORT_CID" >expected &&
	exported_cids crdt >actual &&
	test_cmp expected actual &&
	exported_pin crdt "$IMPORT_CID" >crdt-pin.json &&
	test "$(jq -r .max_depth crdt-pin.json)" = 0 &&
	cluster_start crdt &&
	pinned_everywhere crdt "$IMPORT_CID" direct &&
	! ctlCmd crdt pin ls "$OTHER" 2>/dev/null | grep -q "$OTHER"
'

test_expect_success KUBO 'the crdt peer stops' '
	cluster_stop crdt
'

# --- raft -----------------------------------------------------------------------------------

test_expect_success KUBO 'a raft peer is initialised' '
	CLUSTER_DATASTORE=pebble cluster_init_peer raft kubo0 - --consensus raft
'

test_expect_success KUBO 'state import fails on an incorrect format (raft)' '
	test_expect_code 1 ipfs-cluster-service --config raft state import -f badImportFile >bad.log 2>&1
'

test_expect_success KUBO,JQ 'state import succeeds on a correct format (raft)' '
	ipfs-cluster-service --config raft state import -f importState >import.log 2>&1 &&
	cluster_start raft &&
	test_wait_for 30 eval "ctlCmd raft pin ls \"$IMPORT_CID\" 2>/dev/null | grep -q $IMPORT_CID" &&
	pinned_everywhere raft "$IMPORT_CID" direct &&
	cluster_stop raft
'

# --- scylla ---------------------------------------------------------------------------------

test_expect_success CASSANDRA,KUBO,JQ 'a scylla peer starts, pins something and stops' '
	KS=$(test_keyspace) &&
	cluster_init_peer scylla kubo0 "$KS" &&
	cluster_start scylla &&
	OTHER=$(echo t0053-scylla-other | ipfsCmd kubo0 add -q --pin=false) &&
	ctlCmd scylla pin add --no-status "$OTHER" >/dev/null &&
	test_wait_for 15 cluster_status_is scylla "$OTHER" pinned &&
	cluster_stop scylla
'

test_expect_success CASSANDRA,KUBO,JQ 'state import fails on an incorrect format and keeps the pinset (scylla)' '
	test_expect_code 1 ipfs-cluster-service --config scylla state import -f badImportFile >bad.log 2>&1 &&
	echo "$OTHER" >expected &&
	exported_cids scylla >actual &&
	test_cmp expected actual
'

test_expect_success CASSANDRA,KUBO 'state import of a missing file exits 1 (scylla)' '
	test_expect_code 1 ipfs-cluster-service --config scylla state import -f no-such-file >missing.log 2>&1
'

test_expect_success CASSANDRA,KUBO 'state import without -f and no answer imports nothing (scylla)' '
	ipfs-cluster-service --config scylla state import importState </dev/null >noconfirm.log 2>&1
	echo "$OTHER" >expected &&
	exported_cids scylla >actual &&
	test_cmp expected actual
'

test_expect_success CASSANDRA,KUBO,JQ 'state import succeeds on a correct format and ADDS to the shared pinset (scylla)' '
	ipfs-cluster-service --config scylla state import -f importState >import.log 2>&1 &&
	printf "%s\n" "$OTHER" "$IMPORT_CID" | sort >expected &&
	exported_cids scylla >actual &&
	test_cmp expected actual &&
	cluster_start scylla &&
	pinned_everywhere scylla "$IMPORT_CID" direct &&
	pinned_everywhere scylla "$OTHER" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'the imported pin is stored as crdt stores it (same export, scylla)' '
	cluster_stop scylla &&
	exported_pin scylla "$IMPORT_CID" >scylla-pin.json &&
	test_cmp crdt-pin.json scylla-pin.json
'

test_expect_success CASSANDRA,KUBO,JQ 'the scylla peer starts again' '
	cluster_start scylla
'

test_expect_success CASSANDRA,KUBO,JQ 'state import from another folder while the peer runs: the peer pins it (scylla)' '
	cluster_init_peer admin kubo0 "$KS" &&
	LIVE=$(echo t0053-live | ipfsCmd kubo0 add -q --pin=false) &&
	echo "{\"cid\":\"$LIVE\",\"type\":\"pin\",\"mode\":\"recursive\",\"max_depth\":-1,\"name\":\"live\",\"allocations\":[],\"replication_factor_min\":-1,\"replication_factor_max\":-1}" >live.json &&
	ipfs-cluster-service --config admin state import -f live.json >live.log 2>&1 &&
	test_wait_for 20 eval "ctlCmd scylla pin ls $LIVE 2>/dev/null | grep -q $LIVE" &&
	test "$(ctlCmd scylla --enc=json pin ls "$LIVE" | jq -r .name)" = live &&
	test_wait_for 20 test_kubo_has_pin kubo0 "$LIVE" recursive &&
	test_wait_for 15 cluster_status_is scylla "$LIVE" pinned
'

test_expect_success CASSANDRA,KUBO,JQ 'state import --rmin/--rmax/--allocs overwrite the pin options (scylla)' '
	cluster_stop scylla &&
	pid=$(cluster_id scylla) &&
	ipfs-cluster-service --config scylla state import -f --rmin 1 --rmax 1 --allocs "$pid" importState >opts.log 2>&1 &&
	ipfs-cluster-service --config scylla state export 2>/dev/null |
		jq -c "select(.cid == \"$IMPORT_CID\") | [.replication_factor_min, .replication_factor_max, .allocations]" >actual &&
	echo "[1,1,[\"$pid\"]]" >expected &&
	test_cmp expected actual &&
	exported_cids scylla >all &&
	test "$(wc -l <all)" -eq 3
'

test_expect_success CASSANDRA,KUBO,JQ 'a scylla export re-imported into a fresh keyspace gives the same pinset' '
	ipfs-cluster-service --config scylla state export -f full.json 2>/dev/null &&
	KS2=$(test_keyspace) &&
	cluster_init_peer fresh kubo0 "$KS2" &&
	ipfs-cluster-service --config fresh state import -f full.json >fresh.log 2>&1 &&
	ipfs-cluster-service --config fresh state export -f fresh.json 2>/dev/null &&
	jq -c "del(.timestamp)" full.json | sort >a &&
	jq -c "del(.timestamp)" fresh.json | sort >b &&
	test_cmp a b
'

test_done
