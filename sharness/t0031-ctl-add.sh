#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-ctl add on one scylla peer: same CIDs as ipfs add --only-hash, pinned in kubo (mirrors upstream t0031)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

ctl() { ctlCmd peer0 "$@"; }

# same_cids "CTL ADD OPTIONS" "IPFS ADD OPTIONS" PATH: `ctl add` and `ipfs add --only-hash`
# print the same "added CID NAME" lines; the root CID is then pinned in the cluster and kubo.
same_cids() {
	local copts=$1 iopts=$2 path=$3 root
	# shellcheck disable=SC2086 # option lists
	ctl add $copts "$path" >cluster.txt &&
		ipfsCmd kubo0 add --only-hash $iopts "$path" >ipfs.txt 2>ipfs.err &&
		test -s ipfs.txt &&
		test_cmp ipfs.txt cluster.txt &&
		root=$(tail -n 1 cluster.txt | cut -d" " -f2) &&
		test -n "$root" &&
		echo "$root" >>roots.txt &&
		test_wait_for 10 cluster_status_is peer0 "$root" pinned &&
		test_kubo_has_pin kubo0 "$root" recursive
}

test_expect_success CASSANDRA,KUBO,JQ 'kubo and one scylla peer start (with its metrics)' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_start peer0 &&
	cluster_wait_metrics peer0
'

test_expect_success 'test files are created' '
	dd if=/dev/urandom bs=1M count=8 of=bigfile.bin 2>/dev/null &&
	dd if=/dev/urandom bs=1 count=500 of=smallfile.bin 2>/dev/null &&
	mkdir -p testFolder/subfolder &&
	echo "abc" >testFolder/abc.txt &&
	cp bigfile.bin testFolder/subfolder/bigfile.bin &&
	cp smallfile.bin testFolder/smallfile.bin &&
	echo hidden >testFolder/.hidden.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'add a small file' '
	same_cids "" "" smallfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a small file wrapped (-w)' '
	same_cids "-w" "-w" smallfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a small file with --raw-leaves -w' '
	same_cids "--raw-leaves -w" "--raw-leaves -w" smallfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a small file with --raw-leaves' '
	same_cids "--raw-leaves" "--raw-leaves" smallfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a big file' '
	same_cids "" "" bigfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a big file with the trickle layout' '
	same_cids "--layout trickle" "--trickle" bigfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a big file wrapped (-w)' '
	same_cids "-w" "-w" bigfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a big file with --raw-leaves -w' '
	same_cids "--raw-leaves -w" "--raw-leaves -w" bigfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a big file with --raw-leaves' '
	same_cids "--raw-leaves" "--raw-leaves" bigfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a big file with a 64 KiB chunker' '
	same_cids "--chunker size-65536" "--chunker size-65536" bigfile.bin
'

test_expect_success CASSANDRA,KUBO,JQ 'add a directory (-r)' '
	same_cids "-r" "-r" testFolder
'

test_expect_success CASSANDRA,KUBO,JQ 'add a directory wrapped (-r -w)' '
	same_cids "-r -w" "-r -w" testFolder
'

test_expect_success CASSANDRA,KUBO,JQ 'add a directory with hidden files (-r -H)' '
	same_cids "-r -H" "-r -H" testFolder &&
	grep -q "testFolder/.hidden.txt" cluster.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'add a directory with --cid-version 1' '
	same_cids "--cid-version 1 -r" "--cid-version 1 -r" testFolder &&
	tail -n 1 cluster.txt | grep -q "^added bafy"
'

test_expect_success CASSANDRA,KUBO,JQ 'add a directory with --hash sha3-512' '
	same_cids "--hash sha3-512 -r" "--hash sha3-512 -r" testFolder
'

test_expect_success CASSANDRA,KUBO,JQ 'add a CAR file (--format car) gives the CAR root' '
	mkdir testFolderCar &&
	echo "abc" >testFolderCar/abc.txt &&
	ipfsCmd kubo0 add -Q -w -r --pin=false testFolderCar >caripfs.txt &&
	ipfsCmd kubo0 dag export "$(cat caripfs.txt)" >test.car &&
	ctl add --format car -Q test.car >carcluster.txt &&
	test_cmp caripfs.txt carcluster.txt &&
	test_wait_for 10 cluster_status_is peer0 "$(cat carcluster.txt)" pinned &&
	test_kubo_has_pin kubo0 "$(cat carcluster.txt)" recursive
'

# Adding a folder with a single file is the same as adding the file and wrapping it.
test_expect_success CASSANDRA,KUBO 'adding a folder with one file equals adding the file wrapped' '
	mkdir testFolder2 &&
	echo "abc" >testFolder2/abc.txt &&
	ctl add --quieter -w testFolder2/abc.txt >wrapped.txt &&
	ctl add --quieter -r testFolder2 >folder.txt &&
	test_cmp wrapped.txt folder.txt
'

test_expect_success CASSANDRA,KUBO 'a locally added folder is in the pinset' '
	mkdir testFolder3 &&
	echo "abc3" >testFolder3/abc.txt &&
	cid=$(ctl add -r --quieter testFolder3) &&
	ctl pin ls | grep -q "$cid"
'

test_expect_success CASSANDRA,KUBO,JQ 'add with metadata' '
	echo "test1" >test1.txt &&
	cid1=$(ctl add --quieter --metadata kind=text test1.txt) &&
	echo "test2" >test2.txt &&
	cid2=$(ctl add --quieter test2.txt) &&
	ctl pin ls "$cid1" | grep -q "Metadata: yes" &&
	ctl --enc=json pin ls "$cid1" | jq .metadata | grep -q "\"kind\": \"text\"" &&
	ctl pin ls "$cid2" | grep -q "Metadata: no"
'

test_expect_success CASSANDRA,KUBO,JQ 'add --name sets the pin name' '
	echo "named" >named.txt &&
	cid=$(ctl add --quieter --name my-file named.txt) &&
	test "$(ctl --enc=json pin ls "$cid" | jq -r .name)" = my-file
'

test_expect_success CASSANDRA,KUBO,JQ 'add --no-pin stores the blocks in kubo but pins nothing' '
	echo "not pinned" >nopin.txt &&
	cid=$(ctl add --quieter --no-pin nopin.txt) &&
	test "$cid" = "$(ipfsCmd kubo0 add -Q --only-hash nopin.txt)" &&
	! ctl pin ls "$cid" 2>/dev/null | grep -q "$cid" &&
	! test_kubo_has_pin kubo0 "$cid" &&
	ipfsCmd kubo0 cat --offline "$cid" >nopin.out &&
	test_cmp nopin.txt nopin.out
'

test_expect_success CASSANDRA,KUBO 'content added through the cluster reads back from kubo' '
	cid=$(ctl add --quieter bigfile.bin) &&
	ipfsCmd kubo0 cat --offline "$cid" >big.out &&
	test_cmp bigfile.bin big.out
'

test_done
