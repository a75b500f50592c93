#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-ctl pin add/rm/update/ls on one scylla peer, checked in kubo (mirrors upstream t0030)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

ctl() { ctlCmd peer0 "$@"; }
# first_pin: the CID of the first pin in `ctl pin ls`
first_pin() { ctl --enc=json pin ls | jq -r .cid | head -n 1; }
# not_in_pinset CID: ctl pin ls CID fails or does not list it
not_in_pinset() { ! ctl pin ls "$1" 2>/dev/null | grep -q "$1"; }

test_expect_success CASSANDRA,KUBO,JQ 'kubo and one scylla peer start (state sync every 2s)' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_config_set peer0 ".cluster.state_sync_interval = \"2s\"" &&
	cluster_start peer0 &&
	cluster_wait_metrics peer0
'

test_expect_success CASSANDRA,KUBO,JQ 'pin data to the cluster with ctl' '
	cid=$(echo test | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add "$cid" >add.out &&
	ctl pin ls "$cid" | grep -q "$cid" &&
	test_wait_for 10 cluster_status_is peer0 "$cid" pinned &&
	ctl status "$cid" | grep -q "PINNED" &&
	test_kubo_has_pin kubo0 "$cid" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'unpin data from the cluster with ctl' '
	cid=$(first_pin) &&
	test -n "$cid" &&
	ctl pin rm "$cid" >rm.out &&
	not_in_pinset "$cid" &&
	test_wait_for 10 cluster_status_is peer0 "$cid" unpinned &&
	ctl status "$cid" | grep -q "UNPINNED" &&
	! test_kubo_has_pin kubo0 "$cid"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin add --wait returns once the data is pinned' '
	cid=$(dd if=/dev/urandom bs=1024 count=2048 2>/dev/null | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --wait "$cid" >wait.out &&
	grep -q "PINNED" wait.out &&
	ctl pin ls "$cid" | grep -q "$cid" &&
	cluster_status_is peer0 "$cid" pinned &&
	test_kubo_has_pin kubo0 "$cid" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'pin rm --wait returns once the data is unpinned' '
	cid=$(first_pin) &&
	ctl pin rm --wait "$cid" >wait.out &&
	grep -q "UNPINNED" wait.out &&
	not_in_pinset "$cid" &&
	cluster_status_is peer0 "$cid" unpinned &&
	! test_kubo_has_pin kubo0 "$cid"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin add --wait --wait-timeout 2s pins' '
	cid=$(dd if=/dev/urandom bs=1024 count=2048 2>/dev/null | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --wait --wait-timeout 2s "$cid" >wait.out &&
	grep -q "PINNED" wait.out &&
	ctl pin ls "$cid" | grep -q "$cid" &&
	cluster_status_is peer0 "$cid" pinned &&
	test_kubo_has_pin kubo0 "$cid" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'pin rm --wait --wait-timeout 2s unpins' '
	cid=$(first_pin) &&
	ctl pin rm --wait --wait-timeout 2s "$cid" >wait.out &&
	grep -q "UNPINNED" wait.out &&
	not_in_pinset "$cid" &&
	cluster_status_is peer0 "$cid" unpinned &&
	! test_kubo_has_pin kubo0 "$cid"
'

test_expect_success CASSANDRA,KUBO 'a directory tree is added to kubo (not pinned there)' '
	mkdir -p test1/test2 &&
	echo t0030 >test1/test2/test3.txt &&
	ipfsCmd kubo0 add -qr --pin=false test1 >tree.txt &&
	test "$(wc -l <tree.txt)" -eq 3 &&
	mapfile -t tree <tree.txt &&
	! test_kubo_has_pin kubo0 "${tree[0]}"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin data to the cluster with ctl using an ipfs path' '
	mapfile -t tree <tree.txt &&
	ctl pin add "/ipfs/${tree[2]}/test2/test3.txt" >path.out &&
	ctl pin ls "${tree[0]}" | grep -q "${tree[0]}" &&
	test_wait_for 10 cluster_status_is peer0 "${tree[0]}" pinned &&
	test_kubo_has_pin kubo0 "${tree[0]}" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'unpin data from the cluster with ctl using an ipfs path' '
	mapfile -t tree <tree.txt &&
	ctl pin rm "/ipfs/${tree[2]}/test2/test3.txt" >removed.txt &&
	head -n 1 removed.txt | grep -q "${tree[0]}" &&
	not_in_pinset "${tree[0]}" &&
	test_wait_for 10 cluster_status_is peer0 "${tree[0]}" unpinned &&
	! test_kubo_has_pin kubo0 "${tree[0]}"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin add with an unresolvable ipfs path fails' '
	mapfile -t tree <tree.txt &&
	test_must_fail ctl pin add --no-status "/ipfs/${tree[2]}/no-such-file" &&
	not_in_pinset "${tree[0]}"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin data to the cluster with user allocations and -r 1' '
	mapfile -t tree <tree.txt &&
	pid=$(ctl --enc=json id | jq -r .id) &&
	test "$pid" = "$(cluster_id peer0)" &&
	ctl pin add --allocations "$pid" -r 1 "${tree[0]}" >alloc.out &&
	ctl pin ls "${tree[0]}" | grep -q "${tree[0]}" &&
	test_wait_for 10 cluster_status_is peer0 "${tree[0]}" pinned &&
	ctl --enc=json pin ls "${tree[0]}" >pin.json &&
	test "$(jq -r ".allocations | length" pin.json)" = 1 &&
	test "$(jq -r ".allocations[0]" pin.json)" = "$pid" &&
	test "$(jq -r .replication_factor_min pin.json)" = 1 &&
	test "$(jq -r .replication_factor_max pin.json)" = 1 &&
	test_kubo_has_pin kubo0 "${tree[0]}" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'user allocations to an unknown peer with -r 1 fall back to this (only) peer' '
	cid=$(echo t0030-unknown-alloc | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --allocations 12D3KooWRN8KRjpyg9rsW2w7StbBRGper65psTZm68cjud9KAkaW -r 1 "$cid" >unknown.out &&
	test "$(ctl --enc=json pin ls "$cid" | jq -c .allocations)" = "[\"$(cluster_id peer0)\"]" &&
	test_wait_for 10 cluster_status_is peer0 "$cid" pinned &&
	test_kubo_has_pin kubo0 "$cid" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'pin update pins the new CID with the options of the old one' '
	cid1=$(echo test | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --name upd "$cid1" >upd1.out &&
	cid2=$(echo test2 | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin update "$cid1" "$cid2" >upd2.out &&
	ctl pin ls "$cid2" | grep -q "$cid2" &&
	test "$(ctl --enc=json pin ls "$cid2" | jq -r .name)" = upd &&
	ctl pin ls "$cid1" | grep -q "$cid1" &&
	test_wait_for 10 cluster_status_is peer0 "$cid2" pinned &&
	test_kubo_has_pin kubo0 "$cid2" recursive &&
	test_kubo_has_pin kubo0 "$cid1" recursive
'

test_expect_success CASSANDRA,KUBO,JQ 'pin update from a CID that is not pinned fails' '
	cid5=$(echo t0030-not-pinned | ipfsCmd kubo0 add -q --pin=false) &&
	cid6=$(echo t0030-target | ipfsCmd kubo0 add -q --pin=false) &&
	test_must_fail ctl pin update --no-status "$cid5" "$cid6" &&
	not_in_pinset "$cid6"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin with metadata shows it in pin ls and status' '
	cid3=$(echo test3 | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --metadata kind=text --metadata lang=en "$cid3" >meta3.out &&
	cid4=$(echo test4 | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add "$cid4" >meta4.out &&
	ctl pin ls "$cid3" | grep -q "Metadata: yes" &&
	ctl --enc=json pin ls "$cid3" | jq .metadata | grep -q "\"kind\": \"text\"" &&
	test "$(ctl --enc=json pin ls "$cid3" | jq -r .metadata.lang)" = en &&
	test "$(ctl --enc=json status "$cid3" | jq -r .metadata.kind)" = text &&
	ctl pin ls "$cid4" | grep -q "Metadata: no"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin with a name shows it in pin ls and status' '
	cid=$(echo t0030-named | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --name "my pin" "$cid" >named.out &&
	test "$(ctl --enc=json pin ls "$cid" | jq -r .name)" = "my pin" &&
	test "$(ctl --enc=json status "$cid" | jq -r .name)" = "my pin"
'

test_expect_success CASSANDRA,KUBO,JQ 'pin in direct mode pins directly in kubo' '
	echo "direct" >expected_mode &&
	cid=$(echo test-pin-direct | ipfsCmd kubo0 add -q --pin=false) &&
	echo "$cid direct" >expected_pin_ls &&
	ctl pin add --mode direct "$cid" >direct.out &&
	ctl pin ls "$cid" | grep -q "PIN-DIRECT" &&
	test_wait_for 10 cluster_status_is peer0 "$cid" pinned &&
	ipfsCmd kubo0 pin ls --type direct "$cid" >actual_pin_ls &&
	ctl --enc=json pin ls "$cid" | jq -r .mode >actual_mode &&
	test_cmp expected_mode actual_mode &&
	test_cmp expected_pin_ls actual_pin_ls
'

test_expect_success CASSANDRA,KUBO,JQ 'pin with --expire-in is removed after it expires' '
	cid=$(echo t0030-expire | ipfsCmd kubo0 add -q --pin=false) &&
	ctl pin add --expire-in 2s "$cid" >expire.out &&
	test "$(ctl --enc=json pin ls "$cid" | jq -r .expire_at)" != "0001-01-01T00:00:00Z" &&
	test_wait_for 30 not_in_pinset "$cid" &&
	test_wait_for 10 eval "! test_kubo_has_pin kubo0 $cid"
'

test_expect_success CASSANDRA,KUBO,JQ 'the pinset survives a peer restart' '
	ctl --enc=json pin ls | jq -r .cid | sort >before.txt &&
	test "$(wc -l <before.txt)" -ge 5 &&
	cluster_stop peer0 &&
	cluster_start peer0 &&
	ctl --enc=json pin ls | jq -r .cid | sort >after.txt &&
	test_cmp before.txt after.txt
'

test_done
