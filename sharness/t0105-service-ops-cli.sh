#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="upstream parity: global -f, state crdt subcommands; no colour codes unless on a terminal; migrate progress bar"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

# script(1) runs a command on a pseudo-terminal (util-linux, in Debian's essential bsdutils)
command -v script >/dev/null 2>&1 && test_set_prereq SCRIPT

ESC=$(printf '\033')
# on_tty FILE CMD...: run CMD on a pseudo-terminal, its output in FILE
on_tty() {
	local out=$1
	shift
	script -qec "$(printf '%q ' "$@")" /dev/null >"$out" 2>&1 </dev/null
}

test_expect_success 'the global -f/--force is accepted before the command, as upstream' '
	ipfs-cluster-service -f --config p1 init --randomports >init1.log 2>&1 &&
	test -f p1/service.json &&
	cp p1/service.json before.json &&
	echo n | ipfs-cluster-service --force --config p1 init --consensus raft >init2.log 2>&1 &&
	test_cmp before.json p1/service.json &&
	ipfs-cluster-service --config p1 init -f --consensus raft </dev/null >init3.log 2>&1 &&
	jq -e ".consensus.raft" p1/service.json >/dev/null
'

test_expect_success 'state export -f FILE keeps meaning --file, with or without the global -f' '
	ipfs-cluster-service -f --config p1 state export -f e1.json 2>/dev/null &&
	ipfs-cluster-service --config p1 state export -f e2.json 2>/dev/null &&
	test -f e1.json && test -f e2.json
'

test_expect_success KUBO 'a crdt peer pins a file, then stops' '
	test_kubo_start_free kubo0 &&
	CLUSTER_DATASTORE=pebble cluster_init_peer crdt kubo0 - --consensus crdt &&
	cluster_start crdt && test_wait_for 60 cluster_ready crdt &&
	CID=$(echo t0105 | ipfsCmd kubo0 add -q --pin=false) &&
	ctlCmd crdt pin add "$CID" >/dev/null &&
	test_wait_for 30 cluster_status_is crdt "$CID" pinned &&
	cluster_stop crdt
'

test_expect_success KUBO 'the daemon log written to a file has no colour codes' '
	grep -q "IPFS Cluster is READY" crdt/daemon.log &&
	! grep -q "$ESC" crdt/daemon.log &&
	ipfs-cluster-service --config crdt state export 2>&1 | cat -v >export.txt &&
	grep -q "$CID" export.txt && ! grep -q "\^\[\[" export.txt
'

test_expect_success KUBO 'state crdt info, mark-dirty, mark-clean and dot, as upstream' '
	ipfs-cluster-service --config crdt state crdt info >info.txt 2>/dev/null &&
	grep -q "^Number of heads: 1. Current max-height: 1. Dirty: false$" info.txt &&
	ipfs-cluster-service --config crdt state crdt mark-dirty >dirty.txt 2>/dev/null &&
	echo "Datastore marked '\''dirty'\''" >expected && test_cmp expected dirty.txt &&
	ipfs-cluster-service --config crdt state crdt info 2>/dev/null | grep -q "Dirty: true$" &&
	ipfs-cluster-service --config crdt state crdt mark-clean >clean.txt 2>/dev/null &&
	echo "Datastore marked '\''clean'\''" >expected && test_cmp expected clean.txt &&
	ipfs-cluster-service --config crdt state crdt info 2>/dev/null | grep -q "Dirty: false$" &&
	ipfs-cluster-service --config crdt state crdt dot -f dag.dot 2>/dev/null &&
	head -n 1 dag.dot | grep -qx "digraph CRDTDAG {" &&
	grep -q "label=\"1 | " dag.dot
'

test_expect_success 'state crdt on a raft peer exits 1 and says why' '
	test_expect_code 1 ipfs-cluster-service --config p1 state crdt info >raft.out 2>raft.err &&
	grep -q "not a crdt peer: this peer uses the raft consensus" raft.err
'

test_expect_success CASSANDRA,KUBO 'state crdt on a scylla peer exits 1: there is no crdt state' '
	KS=$(test_keyspace) &&
	cluster_init_peer scylla kubo0 "$KS" &&
	test_expect_code 1 ipfs-cluster-service --config scylla state crdt mark-dirty >scylla.out 2>scylla.err &&
	grep -q "uses the scylla consensus: its pinset is the shared one in keyspace \"$KS\" and there is no crdt state" scylla.err
'

test_expect_success SCRIPT 'on a terminal the log has colours; NO_COLOR=1 turns them off' '
	on_tty tty.txt ipfs-cluster-service --config p2 init --randomports &&
	grep -q "${ESC}\[" tty.txt &&
	on_tty tty-nocolor.txt env NO_COLOR=1 ipfs-cluster-service --config p2 init -f --randomports &&
	grep -q "Saving configuration" tty-nocolor.txt &&
	! grep -q "$ESC" tty-nocolor.txt
'

test_expect_success CASSANDRA,KUBO,SCRIPT 'state migrate draws progress bars on a terminal and logs otherwise' '
	on_tty bar.txt ipfs-cluster-service --config scylla state migrate --from crdt &&
	tr "\r" "\n" <bar.txt >bar-lines.txt &&
	grep -q "^write   \[==============================\] 1 of 1 pins (100%)" bar-lines.txt &&
	grep -q "^verify  \[==============================\] 1 of 1 pins (100%)" bar-lines.txt &&
	ipfs-cluster-service --config scylla state migrate --from crdt >plain.out 2>plain.err &&
	grep -q "migrate: 1 of 1 pins written" plain.err &&
	! grep -q "$(printf "\r")" plain.err plain.out &&
	! grep -q "$ESC" plain.err plain.out
'

test_done
