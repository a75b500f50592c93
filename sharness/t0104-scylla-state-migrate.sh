#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="state migrate: crdt+pebble and raft peers into Scylla (source untouched, resumable), and the way back"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

# pins_of_ls DIR: {cid, name, metadata} of every pin `pin ls` lists through the peer in DIR
pins_of_ls() { ctlCmd "$1" --enc=json pin ls | jq -c '{cid, name, metadata: (.metadata // {})}' | sort; }
# pins_of_file FILE: the same from an export file (NDJSON)
pins_of_file() { jq -c '{cid, name, metadata: (.metadata // {})}' "$1" | sort; }
# pinned_everywhere DIR: every pin is pinned on every peer
pinned_everywhere() { [ "$(ctlCmd "$1" --enc=json status | jq -r '.peer_map[].status' | sort -u)" = pinned ]; }
# tree_sum DIR: every entry of DIR with its type, size, mode and mtime, and every file's sha256
tree_sum() {
	(cd "$1" && find . -printf '%y %p %s %m %T@\n' | sort && find . -type f -exec sha256sum {} + | sort -k2)
}
# add_named DIR N: add N files through the peer in DIR, with names and metadata
add_named() {
	local i
	for i in $(seq 1 "$2"); do
		printf "file %s of the %s pinset\n" "$i" "$1" >"$1-f$i" &&
			ctlCmd "$1" add -q --name "$1-file-$i" --metadata "n=$i" "$1-f$i" >>"$1-added" || return 1
	done
}

test_expect_success KUBO 'kubo runs' '
	API=$(test_free_port) &&
	test_kubo_start kubo0 "$API" "$(test_free_port)"
'

# --- crdt + pebble -> scylla ----------------------------------------------------------------

test_expect_success KUBO,JQ 'a crdt peer on pebble pins 20 files with names and metadata' '
	CLUSTER_DATASTORE=pebble cluster_init_peer crdt kubo0 - --consensus crdt &&
	jq -e ".consensus.crdt and .datastore.pebble" crdt/service.json >/dev/null &&
	cluster_start crdt && test_wait_for 60 cluster_ready crdt &&
	cluster_wait_metrics crdt 30 &&
	add_named crdt 20 &&
	test_wait_for 60 pinned_everywhere crdt &&
	pins_of_ls crdt >crdt-pins &&
	test "$(wc -l <crdt-pins)" -eq 20
'

test_expect_success KUBO,JQ 'a scylla peer is initialised in its own folder, with the same identity' '
	KS=$(test_keyspace) &&
	cluster_init_peer scylla kubo0 "$KS" &&
	cp crdt/identity.json scylla/identity.json
'

test_expect_success 'state migrate refuses a running source and writes nothing' '
	test_expect_code 1 ipfs-cluster-service --config scylla state migrate --from crdt >running.out 2>running.err &&
	grep -q "the source peer is running: process [0-9]* holds .*crdt/cluster.lock" running.err &&
	test ! -s running.out
'

test_expect_success 'the crdt peer is stopped; its folder is recorded' '
	cluster_stop crdt &&
	tree_sum crdt >crdt-before
'

test_expect_success JQ 'state migrate copies every pin, verifies and prints the counts' '
	ipfs-cluster-service --config scylla state migrate --from crdt --work-dir "$PWD" >migrate.out 2>migrate.err &&
	grep -q "^source:   the crdt/pebble state of $PWD/crdt" migrate.out &&
	grep -q "^pins:     20 in the source, 20 written$" migrate.out &&
	grep -q "^verified: 20 present and equal, 0 missing, 0 different$" migrate.out &&
	grep -q "^keyspace: 20 pins in all$" migrate.out
'

test_expect_success 'the source folder is byte for byte and mtime for mtime unchanged, no copy is left' '
	tree_sum crdt >crdt-after &&
	test_cmp crdt-before crdt-after &&
	test -z "$(find . -maxdepth 1 -name "ipfs-cluster-migrate-*")"
'

test_expect_success 'no ANSI colour codes in the output when it is not a terminal' '
	! grep -q "$(printf "\033")" migrate.out migrate.err
'

test_expect_success KUBO,JQ 'the scylla peer serves every pin, names and metadata kept, all pinned' '
	cluster_start scylla && test_wait_for 60 cluster_ready scylla &&
	pins_of_ls scylla >scylla-pins &&
	test_cmp crdt-pins scylla-pins &&
	test_wait_for 60 pinned_everywhere scylla &&
	test "$(ctlCmd scylla --enc=json id | jq -r .id)" = "$(cluster_id crdt)"
'

# --- the way back: scylla -> crdt and raft ----------------------------------------------------

test_expect_success JQ 'the way back: state export of the scylla peer' '
	cluster_stop scylla &&
	ipfs-cluster-service --config scylla state export -f back.json &&
	pins_of_file back.json >back-pins &&
	test_cmp crdt-pins back-pins
'

test_expect_success KUBO,JQ 'state import into a new crdt peer, which serves the same pins' '
	CLUSTER_DATASTORE=pebble cluster_init_peer crdt2 kubo0 - --consensus crdt &&
	ipfs-cluster-service --config crdt2 state import -f back.json &&
	cluster_start crdt2 && test_wait_for 60 cluster_ready crdt2 &&
	pins_of_ls crdt2 >crdt2-pins &&
	test_cmp crdt-pins crdt2-pins &&
	test_wait_for 60 pinned_everywhere crdt2 &&
	cluster_stop crdt2
'

test_expect_success KUBO,JQ 'state import into a new raft peer, which serves the same pins' '
	CLUSTER_DATASTORE=pebble cluster_init_peer raft2 kubo0 - --consensus raft &&
	ipfs-cluster-service --config raft2 state import -f back.json &&
	cluster_start raft2 &&
	test_wait_for 30 eval "ctlCmd raft2 pin ls >/dev/null 2>&1" &&
	pins_of_ls raft2 >raft2-pins &&
	test_cmp crdt-pins raft2-pins &&
	test_wait_for 60 pinned_everywhere raft2 &&
	cluster_stop raft2
'

# --- raft -> scylla ---------------------------------------------------------------------------

test_expect_success KUBO,JQ 'a raft peer pins 5 files and stops (taking a snapshot)' '
	CLUSTER_DATASTORE=pebble cluster_init_peer raft kubo0 - --consensus raft &&
	cluster_start raft &&
	test_wait_for 30 eval "ctlCmd raft pin ls >/dev/null 2>&1" &&
	cluster_wait_metrics raft 30 &&
	add_named raft 5 &&
	test_wait_for 60 pinned_everywhere raft &&
	pins_of_ls raft >raft-pins &&
	test "$(wc -l <raft-pins)" -eq 5 &&
	cluster_stop raft &&
	tree_sum raft >raft-before
'

test_expect_success KUBO,JQ 'state migrate from the raft peer, source unchanged' '
	cluster_init_peer scylla2 kubo0 "$(test_keyspace)" &&
	ipfs-cluster-service --config scylla2 state migrate --from raft --work-dir "$PWD" >raft-migrate.out 2>raft-migrate.err &&
	grep -q "^source:   the raft state of $PWD/raft" raft-migrate.out &&
	grep -q "^verified: 5 present and equal, 0 missing, 0 different$" raft-migrate.out &&
	tree_sum raft >raft-after &&
	test_cmp raft-before raft-after &&
	ipfs-cluster-service --config scylla2 state export -f raft-back.json &&
	pins_of_file raft-back.json >raft-scylla-pins &&
	test_cmp raft-pins raft-scylla-pins
'

# --- interrupted and resumed ----------------------------------------------------------------

test_expect_success KUBO,JQ 'a stopped crdt peer holds 5000 pins (offline import)' '
	mkdir gen && for i in $(seq 1 5000); do echo "generated $i" >"gen/$i"; done &&
	ipfsCmd kubo0 add -rnq gen | head -n 5000 |
		jq -Rc "{cid: ., name: (\"gen-\" + .[-6:]), allocations: [], replication_factor_min: -1, replication_factor_max: -1}" >big.json &&
	test "$(wc -l <big.json)" -eq 5000 &&
	CLUSTER_DATASTORE=pebble cluster_init_peer big kubo0 - --consensus crdt &&
	ipfs-cluster-service --config big state import -f big.json &&
	tree_sum big >big-before
'

test_expect_success KUBO,JQ 'state migrate killed (SIGKILL) while writing leaves part of the pins' '
	KS3=$(test_keyspace) &&
	cluster_init_peer scylla3 kubo0 "$KS3" &&
	cluster_config_set scylla3 ".state.scyllastate.batch_size = 100 | .state.scyllastate.write_concurrency = 1" &&
	mkdir work &&
	{ ipfs-cluster-service --config scylla3 state migrate --from big --work-dir "$PWD/work" >kill.out 2>kill.err & } &&
	MPID=$! &&
	test_wait_for 60 grep -qE "migrate: [0-9]+ of 5000 pins written" kill.err &&
	kill -KILL "$MPID" && { wait "$MPID" || true; } &&
	ipfs-cluster-service --config scylla3 state export -f partial.json &&
	PARTIAL=$(wc -l <partial.json) &&
	echo "pins written before the kill: $PARTIAL" &&
	test "$PARTIAL" -ge 100 && test "$PARTIAL" -lt 5000
'

test_expect_success 'the killed run left its copy behind; the next run says so' '
	test -n "$(find work -maxdepth 1 -name "ipfs-cluster-migrate-*")"
'

test_expect_success JQ 'running it again finishes the job: 5000 pins, no duplicates, source unchanged' '
	cluster_config_set scylla3 "del(.state.scyllastate.write_concurrency)" &&
	ipfs-cluster-service --config scylla3 state migrate --from big --work-dir "$PWD/work" >resume.out 2>resume.err &&
	grep -q "copies left by interrupted migrations" resume.err &&
	grep -q "^pins:     5000 in the source, 5000 written$" resume.out &&
	grep -q "^verified: 5000 present and equal, 0 missing, 0 different$" resume.out &&
	grep -q "^keyspace: 5000 pins in all$" resume.out &&
	ipfs-cluster-service --config scylla3 state export -f full.json &&
	test "$(jq -r .cid full.json | sort -u | wc -l)" -eq 5000 &&
	test "$(wc -l <full.json)" -eq 5000 &&
	pins_of_file big.json >big-pins && pins_of_file full.json >full-pins &&
	test_cmp big-pins full-pins &&
	tree_sum big >big-after &&
	test_cmp big-before big-after
'

test_done
