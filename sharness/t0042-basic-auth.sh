#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="REST API with basic_auth_credentials over plain HTTP: ctl --basic-auth and CLUSTER_CREDENTIALS (mirrors upstream t0042)"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

unset CLUSTER_CREDENTIALS

# ba_ctl CREDENTIALS ARGS...: ctl --basic-auth CREDENTIALS --force-http against peer0
ba_ctl() {
	local cred=$1
	shift
	ctlCmd peer0 --basic-auth "$cred" --force-http "$@"
}

# unauthorized CMD...: CMD fails and prints the 401 Unauthorized answer
unauthorized() {
	test_must_fail "$@" >unauth.out 2>&1 &&
		grep -A1 "401" unauth.out | grep -qi "unauthorized"
}

test_expect_success CASSANDRA,KUBO,JQ 'a scylla peer starts with basic_auth_credentials' '
	cluster_init_scylla_peer peer0 kubo0 &&
	cluster_config_set peer0 ".api.restapi.basic_auth_credentials = {\"testuser\": \"testpass\"}" &&
	cluster_daemon peer0 &&
	cluster_wait_for peer0 60 ba_ctl testuser:testpass id
'

test_expect_success CASSANDRA,KUBO 'BasicAuth fails without credentials' '
	unauthorized ctlCmd peer0 id
'

test_expect_success CASSANDRA,KUBO 'BasicAuth fails with bad credentials' '
	unauthorized ba_ctl testuser id &&
	unauthorized ba_ctl testuser:badpass id &&
	unauthorized ba_ctl baduser:testpass id &&
	unauthorized ba_ctl baduser:badpass id
'

test_expect_success CASSANDRA,KUBO 'BasicAuth over HTTP succeeds with CLI flag credentials' '
	id=$(cluster_id peer0) &&
	ba_ctl testuser:testpass id | grep -q "^$id"
'

test_expect_success CASSANDRA,KUBO 'BasicAuth succeeds with env var credentials' '
	id=$(cluster_id peer0) &&
	CLUSTER_CREDENTIALS=testuser:testpass ctlCmd peer0 --force-http id | grep -q "^$id"
'

test_expect_success CASSANDRA,KUBO 'BasicAuth fails with wrong env var credentials' '
	unauthorized env CLUSTER_CREDENTIALS=testuser:badpass ipfs-cluster-ctl \
		--host "/ip4/127.0.0.1/tcp/$(cluster_restapi_port peer0)" --force-http id
'

test_expect_success CASSANDRA,KUBO,JQ 'pin add and pin ls work with credentials, not without' '
	cid=$(echo t0042 | ipfsCmd kubo0 add -q --pin=false) &&
	unauthorized ctlCmd peer0 pin add "$cid" &&
	ba_ctl testuser:testpass pin add --wait --wait-timeout 10s "$cid" >pin.out &&
	grep -q PINNED pin.out &&
	ba_ctl testuser:testpass pin ls "$cid" | grep -q "$cid" &&
	test_kubo_has_pin kubo0 "$cid" recursive
'

test_expect_success CASSANDRA,KUBO,CURL 'curl gets 401 without credentials and 200 with them' '
	port=$(cluster_restapi_port peer0) &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/id")" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -u testuser:badpass "http://127.0.0.1:$port/id")" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -u testuser:testpass "http://127.0.0.1:$port/id")" = 200
'

test_expect_success CASSANDRA,KUBO,CURL,JQ 'a JWT from POST /token (basic auth) works as a Bearer token' '
	port=$(cluster_restapi_port peer0) &&
	curl -sf -X POST -u testuser:testpass "http://127.0.0.1:$port/token" >token.json &&
	tok=$(jq -r .token token.json) &&
	test -n "$tok" && test "$tok" != null &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/id")" = 200 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer ${tok}x" "http://127.0.0.1:$port/id")" = 401
'

test_expect_success CASSANDRA,KUBO,CURL 'GET /health needs no credentials' '
	port=$(cluster_restapi_port peer0) &&
	code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/health") &&
	test "$code" -ge 200 && test "$code" -lt 300
'

test_done
