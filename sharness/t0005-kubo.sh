#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="a local kubo daemon from scripts/kubo.sh: add, pin ls, stop"

. "$(dirname "$0")/lib/test-lib.sh"

test_expect_success 'kubo starts on loopback ports' '
	API_PORT=$(test_free_port) &&
	SWARM_PORT=$(test_free_port) &&
	test_kubo_start kubo0 "$API_PORT" "$SWARM_PORT" &&
	KUBO_PID=$(test_kubo_pid kubo0) &&
	test -n "$KUBO_PID" &&
	kill -0 "$KUBO_PID"
'

test_expect_success 'the API answers on 127.0.0.1 only, with no gateway' '
	curl -s -X POST "http://127.0.0.1:$API_PORT/api/v0/version" >version.json &&
	grep -q "\"Version\":\"0.43.1\"" version.json &&
	ipfsCmd kubo0 config Addresses.API >api.txt &&
	echo "[\"/ip4/127.0.0.1/tcp/$API_PORT\"]" >expected &&
	tr -d " \n" <api.txt >actual && echo >>actual &&
	test_cmp expected actual &&
	ipfsCmd kubo0 config --json Addresses.Gateway | tr -d " \n" >gw &&
	test "$(cat gw)" = "[]" &&
	test "$(ipfsCmd kubo0 config --json Bootstrap | tr -d " \n")" = "[]"
'

test_expect_success 'ipfs add stores a small file' '
	printf "hello from t0005 %s\n" "$$" >hello.txt &&
	CID=$(ipfsCmd kubo0 add -q hello.txt) &&
	test -n "$CID" &&
	ipfsCmd kubo0 cat "$CID" >out.txt &&
	test_cmp hello.txt out.txt
'

test_expect_success 'ipfs pin ls shows it as a recursive pin' '
	ipfsCmd kubo0 pin ls --type=recursive >pins.txt &&
	grep -q "^$CID recursive" pins.txt
'

test_expect_success 'the daemon stops and its pid is gone' '
	test_kubo_stop kubo0 &&
	test_pid_gone "$KUBO_PID" &&
	test ! -e "$(test_kubo_dir kubo0)/daemon.pid" &&
	test_must_fail curl -s --max-time 2 -X POST "http://127.0.0.1:$API_PORT/api/v0/version"
'

test_expect_success 'the pin is still in the repo (ipfs pin ls without a daemon)' '
	ipfsCmd kubo0 pin ls --type=recursive "$CID" >pins2.txt &&
	grep -q "^$CID recursive" pins2.txt
'

test_done
