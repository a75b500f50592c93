#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service: help, version, usage errors, init identity, one daemon per folder (mirrors upstream t0020)"

. "$(dirname "$0")/lib/test-lib.sh"

test_expect_success CLUSTER_SERVICE 'service --help has the USAGE, COMMANDS and GLOBAL OPTIONS headings' '
	ipfs-cluster-service --help >help.txt &&
	grep -q "^USAGE:" help.txt &&
	grep -q "^COMMANDS:" help.txt &&
	grep -q "^GLOBAL OPTIONS:" help.txt &&
	grep -q "^   init " help.txt &&
	grep -q "^   daemon " help.txt &&
	grep -q "^   state " help.txt
'

test_expect_success CLUSTER_SERVICE,CLUSTER_CTL 'service version and --version match the ctl version (1.1.5)' '
	SERV_VERSION=$(ipfs-cluster-service version | grep -Po "^\d+\.\d+\.\d+") &&
	SERV_VERSION2=$(ipfs-cluster-service --version | grep -Po "\d+\.\d+\.\d+" | head -n 1) &&
	CTL_VERSION=$(ipfs-cluster-ctl --version | grep -Po "\d+\.\d+\.\d+") &&
	test "$SERV_VERSION" = 1.1.5 &&
	test "$SERV_VERSION2" = "$SERV_VERSION" &&
	test "$CTL_VERSION" = "$SERV_VERSION"
'

test_expect_success CLUSTER_SERVICE 'service with no command exits 1' '
	test_expect_code 1 ipfs-cluster-service --config test-config 2>err.txt &&
	grep -q "no command" err.txt
'

test_expect_success CLUSTER_SERVICE 'service with a bad flag exits non-zero' '
	test_must_fail ipfs-cluster-service --no-such-flag version 2>err.txt &&
	grep -q "no-such-flag" err.txt &&
	test_must_fail ipfs-cluster-service --config test-config init --no-such-flag 2>err2.txt &&
	grep -q "no-such-flag" err2.txt
'

test_expect_success CLUSTER_SERVICE 'service with an unknown command exits non-zero' '
	test_must_fail ipfs-cluster-service --config test-config no-such-command
'

test_expect_success CLUSTER_SERVICE,JQ 'init writes a valid identity and config' '
	ipfs-cluster-service --config test-config init --force --datastore scylla --randomports >init.out 2>&1 &&
	ID=$(jq -r .id test-config/identity.json) &&
	PK=$(jq -r .private_key test-config/identity.json) &&
	test -n "$ID" && test "$ID" != null &&
	test -n "$PK" && test "$PK" != null &&
	case $ID in 12D3KooW*) ;; *) false ;; esac &&
	jq -e ".cluster.secret | test(\"^[0-9a-f]{64}$\")" test-config/service.json &&
	test -f test-config/peerstore
'

test_expect_success CLUSTER_SERVICE,JQ 'init --force keeps a valid identity' '
	ipfs-cluster-service --config test-config init --force --datastore scylla >init2.out 2>&1 &&
	test "$(jq -r .id test-config/identity.json)" != null &&
	test "$(jq -r .private_key test-config/identity.json)" != null
'

# Upstream's "starting a second cluster-service process fails": one daemon per folder.
test_cassandra_require

test_expect_success CASSANDRA,KUBO 'a scylla peer starts on a throwaway keyspace' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_start peer0 &&
	ctlCmd peer0 id >id.txt &&
	grep -q "$(cluster_id peer0)" id.txt
'

test_expect_success CASSANDRA,KUBO 'a second daemon on the same folder exits 1 (folder lock)' '
	test_expect_code 1 ipfs-cluster-service --config peer0 daemon >second.out 2>&1 &&
	grep -q "lock" second.out &&
	ctlCmd peer0 id >/dev/null
'

test_expect_success CASSANDRA,KUBO 'state export on the folder of a running peer exits 1 (folder lock)' '
	test_expect_code 1 ipfs-cluster-service --config peer0 state export -f out.json >export.out 2>&1 &&
	grep -q "lock" export.out
'

test_expect_success CASSANDRA,KUBO 'the peer stops on SIGTERM' '
	PID=$(cat peer0/daemon.pid) &&
	cluster_stop peer0 &&
	test_pid_gone "$PID"
'

test_done
