#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ctl --https against a plain-HTTP REST API fails; a bad TLS config stops the daemon (mirrors upstream t0041)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

test_expect_success CASSANDRA,KUBO,JQ 'a scylla peer starts with a plain-HTTP REST API' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_start peer0
'

test_expect_success CASSANDRA,KUBO 'plain ctl works' '
	ctlCmd peer0 id | grep -q "^$(cluster_id peer0)"
'

test_expect_success CASSANDRA,KUBO 'ssl enforced by the client: ctl --https --no-check-certificate fails' '
	test_must_fail ctlCmd peer0 --https --no-check-certificate id >https.out 2>&1
'

test_expect_success CASSANDRA,KUBO 'basic auth implies https: ctl --basic-auth without --force-http fails' '
	test_must_fail ctlCmd peer0 --basic-auth testuser:testpass id >ba.out 2>&1
'

test_expect_success CASSANDRA,KUBO 'the peer stops' '
	cluster_stop peer0
'

test_expect_success CASSANDRA,KUBO,JQ 'a missing ssl_cert_file makes the daemon exit 1 and name the file' '
	cluster_config_set peer0 ".api.restapi.ssl_cert_file = \"missing.crt\" | .api.restapi.ssl_key_file = \"missing.key\"" &&
	test_expect_code 1 timeout 60 ipfs-cluster-service --config peer0 daemon >bad-tls.out 2>&1 &&
	grep -q "missing.crt" bad-tls.out
'

test_done
