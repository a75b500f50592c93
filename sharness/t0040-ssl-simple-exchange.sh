#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="REST API over TLS (self-signed certificate) and ipfs-cluster-ctl --https (mirrors upstream t0040)"

. "$(dirname "$0")/lib/test-lib.sh"

command -v openssl >/dev/null 2>&1 && test_set_prereq OPENSSL

test_cassandra_require

# tls_ctl ARGS...: ctl --https --no-check-certificate against peer0
tls_ctl() { ctlCmd peer0 --https --no-check-certificate "$@"; }

test_expect_success CASSANDRA,KUBO,JQ,OPENSSL 'a scylla peer starts with ssl_cert_file/ssl_key_file set' '
	cluster_init_scylla_peer peer0 kubo0 &&
	test_tls_cert peer0 &&
	cluster_config_set peer0 ".api.restapi.ssl_cert_file = \"server.crt\" | .api.restapi.ssl_key_file = \"server.key\"" &&
	cluster_daemon peer0 &&
	cluster_wait_for peer0 60 tls_ctl id
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ssl interaction succeeds (ctl --https --no-check-certificate id)' '
	id=$(cluster_id peer0) &&
	tls_ctl id >id.txt &&
	grep -q "^$id" id.txt
'

test_expect_success CASSANDRA,KUBO,JQ,OPENSSL 'pin add, status and pin rm work over TLS' '
	cid=$(echo t0040 | ipfsCmd kubo0 add -q --pin=false) &&
	tls_ctl pin add --wait --wait-timeout 10s "$cid" >pin.out &&
	grep -q PINNED pin.out &&
	test "$(tls_ctl --enc=json status "$cid" | jq -r ".peer_map[].status")" = pinned &&
	test_kubo_has_pin kubo0 "$cid" recursive &&
	tls_ctl pin rm --wait --wait-timeout 10s "$cid" >rm.out &&
	grep -q UNPINNED rm.out
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ctl --https verifying the certificate fails (self-signed)' '
	test_must_fail ctlCmd peer0 --https id >verify.out 2>&1 &&
	grep -qi "certificate" verify.out
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ctl --https trusting the certificate (SSL_CERT_FILE) succeeds' '
	id=$(cluster_id peer0) &&
	SSL_CERT_FILE=$PWD/peer0/server.crt ctlCmd peer0 --https id >id2.txt &&
	grep -q "^$id" id2.txt
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'plain ctl (no --https) against the TLS API fails' '
	test_must_fail ctlCmd peer0 id >plain.out 2>&1
'

test_expect_success CASSANDRA,KUBO,CURL,OPENSSL 'curl https with the certificate works, plain http does not' '
	port=$(cluster_restapi_port peer0) &&
	curl -sf --cacert peer0/server.crt "https://127.0.0.1:$port/id" >curl-id.json &&
	grep -q "\"id\":\"$(cluster_id peer0)\"" curl-id.json &&
	test_must_fail curl -sf "http://127.0.0.1:$port/id"
'

test_done
