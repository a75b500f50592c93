#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-ctl status reporting on one scylla peer; errors on incomplete commands (mirrors upstream t0025)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

ctl() { ctlCmd peer0 "$@"; }

test_expect_success CASSANDRA,KUBO,JQ 'kubo and one scylla peer start' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_start peer0
'

test_expect_success CASSANDRA,KUBO,JQ 'ctl id shows the peer id' '
	id=$(cluster_id peer0) &&
	test -n "$id" &&
	ctl id >id.txt &&
	grep -q "^$id" id.txt &&
	ctl --enc=json id >id.json &&
	test "$(jq -r .id id.json)" = "$id" &&
	test "$(jq -r .error id.json)" = "" &&
	test "$(jq -r .ipfs.id id.json)" = "$(ipfsCmd kubo0 config Identity.PeerID)"
'

test_expect_success CASSANDRA,KUBO,JQ 'ctl peers ls lists 1 peer' '
	peer_length=$(ctl --enc=json peers ls | jq -n "[inputs] | length") &&
	test "$peer_length" -eq 1 &&
	ctl --enc=json peers ls | jq -r .id >peers.txt &&
	test "$(cat peers.txt)" = "$(cluster_id peer0)"
'

test_expect_success CASSANDRA,KUBO 'ctl peers add fails, with or without a peer id (no such command in ctl 1.1.5)' '
	test_must_fail ctl peers add &&
	test_must_fail ctl peers add XXXinvalid-peerXXX
'

test_expect_success CASSANDRA,KUBO 'ctl peers rm needs a peer id' '
	test_must_fail ctl peers rm
'

test_expect_success CASSANDRA,KUBO 'ctl peers rm with an invalid peer id fails' '
	test_must_fail ctl peers rm XXXinvalid-peerXXX
'

test_expect_success CASSANDRA,KUBO,JQ 'empty ctl status succeeds and lists nothing' '
	ctl status >status.txt &&
	test ! -s status.txt &&
	test "$(cluster_status_count peer0)" -eq 0
'

test_expect_success CASSANDRA,KUBO 'ctl status with an invalid CID fails' '
	test_must_fail ctl status XXXinvalid-CIDXXX
'

test_expect_success CASSANDRA,KUBO 'empty ctl recover does not fail' '
	ctl recover
'

test_expect_success CASSANDRA,KUBO 'ctl recover with an invalid CID fails' '
	test_must_fail ctl recover XXXinvalid-CIDXXX
'

test_expect_success CASSANDRA,KUBO,JQ 'ctl pin ls succeeds on an empty cluster' '
	ctl pin ls >pins.txt &&
	test ! -s pins.txt &&
	test "$(cluster_pin_count peer0)" -eq 0
'

test_expect_success CASSANDRA,KUBO 'ctl pin ls with an invalid CID fails' '
	test_must_fail ctl pin ls XXXinvalid-CIDXXX
'

test_expect_success CASSANDRA,KUBO,JQ 'ctl status of a CID that is not pinned reports it UNPINNED' '
	cid=$(echo t0025-not-pinned | ipfsCmd kubo0 add -q --only-hash) &&
	ctl status "$cid" >st.txt &&
	grep -q "UNPINNED" st.txt &&
	cluster_status_is peer0 "$cid" unpinned
'

test_expect_success CASSANDRA,KUBO 'ctl pin ls of a CID that is not pinned fails (404)' '
	cid=$(echo t0025-not-pinned | ipfsCmd kubo0 add -q --only-hash) &&
	test_must_fail ctl pin ls "$cid" >ls.txt 2>&1 &&
	grep -q 404 ls.txt
'

test_expect_success CASSANDRA,KUBO 'ctl version matches the peer version' '
	ctl version >v.txt &&
	grep -q "1\.1\.5" v.txt
'

test_expect_success CASSANDRA,KUBO 'ctl against a port with nothing listening fails' '
	port=$(test_free_port) &&
	test_must_fail ipfs-cluster-ctl --host "/ip4/127.0.0.1/tcp/$port" id
'

test_done
