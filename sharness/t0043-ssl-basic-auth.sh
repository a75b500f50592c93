#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="REST API over TLS with basic_auth_credentials (mirrors upstream t0043)"

. "$(dirname "$0")/lib/test-lib.sh"

command -v openssl >/dev/null 2>&1 && test_set_prereq OPENSSL

test_cassandra_require

unset CLUSTER_CREDENTIALS

# unauthorized CMD...: CMD fails and prints the 401 Unauthorized answer
unauthorized() {
	test_must_fail "$@" >unauth.out 2>&1 &&
		grep -A1 "401" unauth.out | grep -qi "unauthorized"
}

test_expect_success CASSANDRA,KUBO,JQ,OPENSSL 'a scylla peer starts with TLS and basic_auth_credentials' '
	cluster_init_scylla_peer peer0 kubo0 &&
	test_tls_cert peer0 &&
	cluster_config_set peer0 "
		.api.restapi.ssl_cert_file = \"server.crt\"
		| .api.restapi.ssl_key_file = \"server.key\"
		| .api.restapi.basic_auth_credentials = {\"testuser\": \"testpass\", \"userwithoutpass\": \"\"}" &&
	cluster_daemon peer0 &&
	cluster_wait_for peer0 60 ctlCmd peer0 --no-check-certificate --basic-auth testuser:testpass id
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ssl interaction fails with bad credentials' '
	unauthorized ctlCmd peer0 --no-check-certificate --basic-auth testuser:badpass id &&
	unauthorized ctlCmd peer0 --no-check-certificate --basic-auth baduser:testpass id
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ssl interaction fails without credentials' '
	unauthorized ctlCmd peer0 --https --no-check-certificate id
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ssl interaction succeeds (--basic-auth implies https)' '
	id=$(cluster_id peer0) &&
	ctlCmd peer0 --no-check-certificate --basic-auth testuser:testpass id | grep -q "^$id"
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ssl interaction succeeds with CLUSTER_CREDENTIALS' '
	id=$(cluster_id peer0) &&
	CLUSTER_CREDENTIALS=testuser:testpass ctlCmd peer0 --no-check-certificate id | grep -q "^$id"
'

test_expect_success CASSANDRA,KUBO,CURL,OPENSSL 'a user with an empty password is always refused, as upstream (curl)' '
	port=$(cluster_restapi_port peer0) &&
	test "$(curl -s -k -o /dev/null -w "%{http_code}" -u userwithoutpass: "https://127.0.0.1:$port/id")" = 401 &&
	test "$(curl -s -k -o /dev/null -w "%{http_code}" -u userwithoutpass:x "https://127.0.0.1:$port/id")" = 401 &&
	test "$(curl -s -k -o /dev/null -w "%{http_code}" "https://127.0.0.1:$port/id")" = 401
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'credentials over plain HTTP (--force-http) fail against TLS' '
	test_must_fail ctlCmd peer0 --basic-auth testuser:testpass --force-http id >plain.out 2>&1
'

test_expect_success CASSANDRA,KUBO,OPENSSL 'ssl interaction with credentials, verifying the certificate (SSL_CERT_FILE)' '
	id=$(cluster_id peer0) &&
	SSL_CERT_FILE=$PWD/peer0/server.crt ctlCmd peer0 --basic-auth testuser:testpass id | grep -q "^$id"
'

test_done
