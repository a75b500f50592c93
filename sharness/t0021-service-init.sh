#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service init: peers, consensus and datastore sections (mirrors upstream t0021)"

. "$(dirname "$0")/lib/test-lib.sh"

PEER1=/ip4/192.168.0.129/tcp/9196/p2p/12D3KooWRN8KRjpyg9rsW2w7StbBRGper65psTZm68cjud9KAkaW
PEER2=/ip4/192.168.0.129/tcp/9196/p2p/12D3KooWPwrYNj7VficHw5qYidepMGA85756kYgMdNmRM9A1ZHjN
ID1=${PEER1##*/}
ID2=${PEER2##*/}

# cfg FILTER: jq -c FILTER on test-config/service.json
cfg() { jq -c "$1" test-config/service.json; }

test_expect_success CLUSTER_SERVICE 'init --peers succeeds and fills the peerstore' '
	ipfs-cluster-service --config test-config init --peers "$PEER1,$PEER2" >init.out 2>&1 &&
	grep -qx "$PEER1" test-config/peerstore &&
	grep -qx "$PEER2" test-config/peerstore &&
	test "$(wc -l <test-config/peerstore)" -eq 2
'

test_expect_success CLUSTER_SERVICE,JQ 'init --peers makes them the only trusted peers (crdt)' '
	test "$(cfg ".consensus.crdt.trusted_peers")" = "[\"$ID1\",\"$ID2\"]"
'

test_expect_success CLUSTER_SERVICE 'init without -f on an existing config asks; "n" (or no answer) keeps it' '
	cp test-config/service.json before.json &&
	echo n | ipfs-cluster-service --config test-config init >init-n.out 2>&1 &&
	grep -q "already exists" init-n.out &&
	test_cmp before.json test-config/service.json &&
	ipfs-cluster-service --config test-config init </dev/null >init-eof.out 2>&1 &&
	test_cmp before.json test-config/service.json &&
	grep -qx "$PEER1" test-config/peerstore
'

test_expect_success CLUSTER_SERVICE 'init without -f on an existing config, answering "y", overwrites it' '
	echo y | ipfs-cluster-service --config test-config init >init-y.out 2>&1 &&
	test -f test-config/peerstore &&
	test ! -s test-config/peerstore &&
	! test_cmp before.json test-config/service.json >/dev/null
'

test_expect_success CLUSTER_SERVICE 'init -f without --peers creates an empty peerstore' '
	ipfs-cluster-service --config test-config init -f >init.out 2>&1 &&
	test -f test-config/peerstore &&
	test ! -s test-config/peerstore &&
	test "$(cfg ".consensus.crdt.trusted_peers")" = "[\"*\"]"
'

test_expect_success CLUSTER_SERVICE 'init with an invalid --peers address fails' '
	test_expect_code 1 ipfs-cluster-service --config bad-peers init -f --peers not-a-multiaddr >bad.out 2>&1 &&
	grep -q "not-a-multiaddr" bad.out
'

test_expect_success CLUSTER_SERVICE,JQ 'init --consensus raft generates only the raft config (no datastore)' '
	ipfs-cluster-service --config test-config init -f --consensus raft >init.out 2>&1 &&
	test "$(cfg ".consensus | keys")" = "[\"raft\"]" &&
	test "$(cfg ".consensus.crdt")" = null &&
	test "$(cfg ".consensus.scylla")" = null &&
	test "$(cfg ".datastore")" = null &&
	test "$(cfg ".state")" = null
'

test_expect_success CLUSTER_SERVICE,JQ 'init --consensus raft --peers sets the raft init_peerset' '
	ipfs-cluster-service --config test-config init -f --consensus raft --peers "$PEER1,$PEER2" >init.out 2>&1 &&
	test "$(cfg ".consensus.raft.init_peerset")" = "[\"$ID1\",\"$ID2\"]"
'

test_expect_success CLUSTER_SERVICE,JQ 'init --consensus crdt generates only the crdt config (+ datastore.pebble)' '
	ipfs-cluster-service --config test-config init -f --consensus crdt >init.out 2>&1 &&
	test "$(cfg ".consensus | keys")" = "[\"crdt\"]" &&
	test "$(cfg ".consensus.raft")" = null &&
	test "$(cfg ".datastore | keys")" = "[\"pebble\"]" &&
	test "$(cfg ".state")" = null
'

test_expect_success CLUSTER_SERVICE,JQ 'init --consensus crdt --datastore leveldb writes datastore.leveldb only' '
	ipfs-cluster-service --config test-config init -f --consensus crdt --datastore leveldb >init.out 2>&1 &&
	test "$(cfg ".consensus | keys")" = "[\"crdt\"]" &&
	test "$(cfg ".datastore | keys")" = "[\"leveldb\"]"
'

test_expect_success CLUSTER_SERVICE,JQ 'init --datastore scylla writes .state.scyllastate and .consensus.scylla only' '
	ipfs-cluster-service --config test-config init -f --datastore scylla >init.out 2>&1 &&
	test "$(cfg ".consensus | keys")" = "[\"scylla\"]" &&
	test "$(cfg ".state | keys")" = "[\"scyllastate\"]" &&
	test "$(cfg ".datastore")" = null &&
	test "$(cfg ".state.scyllastate.hosts | length")" -ge 1 &&
	test "$(cfg ".state.scyllastate.port")" = 9042 &&
	test "$(cfg ".state.scyllastate.keyspace")" != null &&
	test "$(cfg ".consensus.scylla.trusted_peers")" = "[\"*\"]"
'

test_expect_success CLUSTER_SERVICE,JQ 'init --datastore scylla --peers trusts only those peers' '
	ipfs-cluster-service --config test-config init -f --datastore scylla --peers "$PEER1,$PEER2" >init.out 2>&1 &&
	test "$(cfg ".consensus.scylla.trusted_peers")" = "[\"$ID1\",\"$ID2\"]" &&
	grep -qx "$PEER2" test-config/peerstore
'

test_expect_success CLUSTER_SERVICE,JQ 'init --consensus scylla implies the scylla datastore' '
	ipfs-cluster-service --config test-config init -f --consensus scylla >init.out 2>&1 &&
	test "$(cfg ".consensus | keys")" = "[\"scylla\"]" &&
	test "$(cfg ".state | keys")" = "[\"scyllastate\"]" &&
	test "$(cfg ".datastore")" = null
'

test_expect_success CLUSTER_SERVICE 'init --consensus raft --datastore scylla is refused with a clear message and exit 1' '
	cp test-config/service.json before.json &&
	test_expect_code 1 ipfs-cluster-service --config test-config init -f --consensus raft --datastore scylla >refused.out 2>&1 &&
	grep -q "raft" refused.out &&
	grep -q "scylla" refused.out &&
	test_cmp before.json test-config/service.json
'

test_expect_success CLUSTER_SERVICE 'init --consensus crdt --datastore scylla is refused with exit 1' '
	test_expect_code 1 ipfs-cluster-service --config test-config init -f --consensus crdt --datastore scylla >refused2.out 2>&1 &&
	grep -q "crdt" refused2.out
'

test_expect_success CLUSTER_SERVICE 'init with an unknown consensus or datastore exits 1' '
	test_expect_code 1 ipfs-cluster-service --config test-config init -f --consensus bogus >bogus1.out 2>&1 &&
	grep -q "bogus" bogus1.out &&
	test_expect_code 1 ipfs-cluster-service --config test-config init -f --datastore bogus >bogus2.out 2>&1 &&
	grep -q "bogus" bogus2.out
'

test_done
