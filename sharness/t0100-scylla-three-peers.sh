#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="three peers on one keyspace: propagation to every kubo, a stopped peer converges, --leave keeps the pinset"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

KS=$(test_keyspace)
CLUSTER_SECRET=$(od -vN 32 -An -tx1 /dev/urandom | tr -d ' \n')
export CLUSTER_SECRET

# peer_up I [DAEMON ARGS...]: start peer I (its kubo runs already) and
# wait until it is ready (the API answers earlier).
peer_up() {
	local i=$1
	shift
	cluster_start "p$i" "$@" && test_wait_for 60 cluster_ready "p$i"
}


# Predicates for test_wait_for (which runs a command, not a shell string).
pin_ls_shows() { ctlCmd "$1" pin ls "$2" | grep -q "$3"; }

test_expect_success 'three kubo daemons, connected to each other' '
	for i in 0 1 2; do
		test_kubo_start "kubo$i" "$(test_free_port)" "$(test_free_port)" || return 1
	done &&
	for i in 1 2; do
		ipfsCmd kubo$i swarm connect "$(ipfsCmd kubo0 id -f="<addrs>" | grep "^/ip4/127.0.0.1/tcp/" | head -1)/p2p/$(ipfsCmd kubo0 id -f="<id>")" || return 1
	done
'

test_expect_success 'three peers initialised on one keyspace' '
	for i in 0 1 2; do
		cluster_init "p$i" --randomports &&
		cluster_config_scylla "p$i" "$KS" &&
		cluster_config_ipfs "p$i" "$(jq -r ".Addresses.API" "$(test_kubo_dir kubo$i)/repo/config" | sed -n "s#.*/tcp/\([0-9]*\).*#\1#p")" &&
		cluster_config_set "p$i" ".cluster.peername = \$n" --arg n "peer$i" || return 1
	done &&
	jq -e ".consensus.scylla and .state.scyllastate" p0/service.json
'

test_expect_success 'peer0 starts; peer1 and peer2 bootstrap to it' '
	peer_up 0 &&
	peer_up 1 --bootstrap "$(cluster_addr p0)" &&
	peer_up 2 --bootstrap "$(cluster_addr p0)" &&
	for i in 0 1 2; do
		test_wait_for 30 cluster_sees_peers "p$i" 3 &&
		cluster_wait_metrics "p$i" 30 || return 1
	done
'

test_expect_success 'ctl add through peer0 is pinned in the kubo of every peer' '
	printf "shared pinset %s\n" "$$" >file1 &&
	CID1=$(ctlCmd p0 add -q file1) &&
	test -n "$CID1" &&
	test_wait_for 30 cluster_status_is p0 "$CID1" pinned &&
	for i in 0 1 2; do
		test_wait_for 10 test_kubo_has_pin "kubo$i" "$CID1" recursive || return 1
	done
'

test_expect_success 'pin add through peer0 shows in peer2 pin ls and is pinned in its kubo' '
	printf "pinned by cid %s\n" "$$" >file2 &&
	CID2=$(ipfsCmd kubo0 add -q --pin=false file2) &&
	ctlCmd p0 pin add --name second "$CID2" &&
	test_wait_for 10 pin_ls_shows p2 "$CID2" second &&
	test_wait_for 30 test_kubo_has_pin kubo2 "$CID2" recursive
'

test_expect_success 'peer2 stopped while a pin is added and another removed' '
	cluster_stop p2 &&
	printf "added while away %s\n" "$$" >file3 &&
	CID3=$(ipfsCmd kubo0 add -q --pin=false file3) &&
	ctlCmd p0 pin add "$CID3" &&
	ctlCmd p1 pin rm "$CID2" &&
	test_kubo_has_pin kubo2 "$CID2" recursive &&
	test_kubo_lacks_pin kubo2 "$CID3" recursive
'

test_expect_success 'peer2 restarted converges: the new pin is pinned, the removed one unpinned' '
	peer_up 2 &&
	test_wait_for 60 test_kubo_has_pin kubo2 "$CID3" recursive &&
	test_wait_for 30 test_kubo_lacks_pin kubo2 "$CID2" recursive &&
	grep -q "catching up with the pin changes" p2/daemon.log &&
	test_kubo_has_pin kubo2 "$CID1" recursive
'

test_expect_success 'peer1 leaves with --leave: the shared pinset is intact' '
	ctlCmd p0 --enc=json pin ls | jq -r .cid | sort >before &&
	test "$(wc -l <before)" -eq 2 &&
	cluster_stop p1 &&
	peer_up 1 --leave &&
	cluster_stop p1 &&
	grep -q "the shared pinset in keyspace \"$KS\" is kept" p1/daemon.log &&
	ctlCmd p0 --enc=json pin ls | jq -r .cid | sort >after &&
	test_cmp before after &&
	ctlCmd p2 --enc=json pin ls | jq -r .cid | sort >after2 &&
	test_cmp before after2
'

test_expect_success 'the remaining peers still pin through the shared state' '
	printf "after the leave %s\n" "$$" >file4 &&
	CID4=$(ctlCmd p2 add -q file4) &&
	test_wait_for 30 test_kubo_has_pin kubo0 "$CID4" recursive
'

test_done
