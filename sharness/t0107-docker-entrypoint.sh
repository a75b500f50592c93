#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="docker/entrypoint.sh run as the image runs it: env-driven first-start init, then exec daemon; docker-compose.yml validated"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

ENTRYPOINT=$REPO_ROOT/docker/entrypoint.sh
SECRET=$(od -vN 32 -An -tx1 /dev/urandom | tr -d ' \n')

# image_env DIR: the environment of the container: the Dockerfile's ENV, the CLUSTER_* of a
# docker run -e ..., loopback ports for this machine; nothing else from this shell.
image_env() {
	printf '%s\n' "PATH=$PATH" "HOME=$HOME" \
		"IPFS_CLUSTER_PATH=$1" IPFS_CLUSTER_DATASTORE=scylla \
		"CLUSTER_SECRET=$SECRET" CLUSTER_PEERNAME=docker-peer \
		"CLUSTER_SCYLLASTATE_HOSTS=$(test_cassandra_host)" "CLUSTER_SCYLLASTATE_PORT=$(test_cassandra_port)" \
		"CLUSTER_SCYLLASTATE_KEYSPACE=$KS" \
		"CLUSTER_IPFSHTTP_NODEMULTIADDRESS=/ip4/127.0.0.1/tcp/$KUBO_API" \
		"CLUSTER_IPFSPROXY_NODEMULTIADDRESS=/ip4/127.0.0.1/tcp/$KUBO_API" \
		"CLUSTER_LISTENMULTIADDRESS=/ip4/127.0.0.1/tcp/$P_SWARM" \
		"CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS=/ip4/127.0.0.1/tcp/$P_API" \
		"CLUSTER_IPFSPROXY_LISTENMULTIADDRESS=/ip4/127.0.0.1/tcp/$P_PROXY" \
		"CLUSTER_PINSVCAPI_HTTPLISTENMULTIADDRESS=/ip4/127.0.0.1/tcp/$P_PINSVC" \
		CLUSTER_MDNSINTERVAL=0s CLUSTER_ENABLERELAYHOP=false
}

# run_entrypoint DIR LOG [VAR=VALUE...] -- ARGS...: the entrypoint in the background, as
# `tini -- entrypoint.sh ARGS` would run it, with image_env DIR; its pid in $EP_PID.
run_entrypoint() {
	local dir=$1 log=$2
	shift 2
	local -a extra=() envs=()
	while [ "$1" != -- ]; do
		extra+=("$1")
		shift
	done
	shift
	mapfile -t envs < <(image_env "$dir")
	env -i "${envs[@]}" "${extra[@]}" "$ENTRYPOINT" "$@" </dev/null >"$log" 2>&1 &
	EP_PID=$!
}

api_answers() { curl -s --max-time 2 "http://127.0.0.1:$P_API/id" | grep -q '"id"'; }
is_daemon() { tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "^ipfs-cluster-service daemon"; }
stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	test_pid_gone "$1" 30 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}
cleanup 'stop_pid "$EP_PID"'

test_expect_success KUBO 'kubo and free ports' '
	test_kubo_start_free kubo0 &&
	KUBO_API=$(test_kubo_api_port kubo0) &&
	P_SWARM=$(test_free_port) && P_API=$(test_free_port) && P_PROXY=$(test_free_port) && P_PINSVC=$(test_free_port) &&
	KS=$(test_keyspace)
'

test_expect_success CASSANDRA,KUBO,JQ 'first start: the environment is saved by init, then the daemon is exec-ed' '
	run_entrypoint "$PWD/data" first.log -- daemon &&
	test_wait_for 60 api_answers &&
	is_daemon "$EP_PID" &&
	test_wait_for 60 grep -q "IPFS Cluster is READY" first.log &&
	grep -q "configuration written to $PWD/data/service.json" first.log
'

test_expect_success CASSANDRA,KUBO,JQ 'the generated service.json holds the environment' '
	jq -e --arg ks "$KS" --arg s "$SECRET" --arg ma "/ip4/127.0.0.1/tcp/$KUBO_API" "
		.consensus.scylla and (.consensus.crdt | not) and (.consensus.raft | not) and (.datastore | not)
		and .state.scyllastate.hosts == [\"$(test_cassandra_host)\"] and .state.scyllastate.keyspace == \$ks
		and .cluster.secret == \$s and .cluster.peername == \"docker-peer\"
		and .ipfs_connector.ipfshttp.node_multiaddress == \$ma" data/service.json >/dev/null &&
	test -f data/identity.json &&
	test "$(ipfs-cluster-ctl --host "/ip4/127.0.0.1/tcp/$P_API" --enc=json id | jq -r .peername)" = docker-peer
'

test_expect_success CASSANDRA,KUBO 'as root without gosu or the user, it says so and runs as the current user' '
	if [ "$(id -u)" -eq 0 ]; then
		grep -q "entrypoint.sh: user ipfs or gosu is missing: running as root" first.log
	else
		! grep -q "entrypoint.sh:" first.log
	fi &&
	test "$(stat -c %u "/proc/$EP_PID")" = "$(id -u)"
'

test_expect_success CASSANDRA,KUBO 'SIGTERM stops the daemon (it is the container process)' '
	kill -TERM "$EP_PID" && test_pid_gone "$EP_PID" 30 &&
	{ wait "$EP_PID"; test $? -eq 0; }
'

test_expect_success CASSANDRA,KUBO 'a second start does not init again' '
	sha256sum data/service.json data/identity.json >sums &&
	run_entrypoint "$PWD/data" second.log CLUSTER_PEERNAME=renamed -- daemon &&
	test_wait_for 60 api_answers &&
	! grep -q "configuration written" second.log &&
	sha256sum -c --quiet sums &&
	stop_pid "$EP_PID"
'

test_expect_success CASSANDRA 'an invalid CLUSTER_SCYLLASTATE_* value at the first start exits 1 naming the field' '
	run_entrypoint "$PWD/bad" bad.log CLUSTER_SCYLLASTATE_CONSISTENCY=MOSTLY -- daemon &&
	{ wait "$EP_PID"; test $? -eq 1; } &&
	grep -q "scyllastate.consistency" bad.log &&
	test ! -e bad/service.json
'

# Root only: what the image does, with a stand-in gosu (setpriv) and the user nobody.
cat >gosu <<'EOF'
#!/bin/sh
u=$1
shift
echo "gosu $u $*" >>"$GOSU_LOG"
exec setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- "$@"
EOF
chmod +x gosu
mkdir -p fakebin && mv gosu fakebin/

test_expect_success CASSANDRA,KUBO 'as root with gosu and the user, it gives them the folder and drops privileges' '
	if [ "$(id -u)" -ne 0 ]; then
		echo "not root: the step is skipped by design; checked: it runs as $(id -un)" &&
		run_entrypoint "$PWD/user" user.log -- version && wait "$EP_PID" &&
		! grep -q "gosu" user.log
	else
		mkdir -p user && chmod 755 . &&
		PATH="$PWD/fakebin:$PATH" run_entrypoint "$PWD/user" user.log IPFS_CLUSTER_USER=nobody GOSU_LOG="$PWD/gosu.log" -- daemon &&
		test_wait_for 60 api_answers &&
		grep -qx "gosu nobody $ENTRYPOINT daemon" gosu.log &&
		is_daemon "$EP_PID" &&
		test "$(awk "/^Uid:/ { print \$2 }" "/proc/$EP_PID/status")" = 65534 &&
		test "$(stat -c %U user/service.json)" = nobody &&
		stop_pid "$EP_PID"
	fi
'

test_expect_success 'IPFS_CLUSTER_DROP_PRIVILEGES=0 keeps the current user' '
	PATH="$PWD/fakebin:$PATH" run_entrypoint "$PWD/keep" keep.log IPFS_CLUSTER_USER=nobody GOSU_LOG="$PWD/gosu2.log" IPFS_CLUSTER_DROP_PRIVILEGES=0 -- version &&
	{ wait "$EP_PID"; test $? -eq 0; } &&
	test ! -e gosu2.log && grep -q "^1\.1\.5" keep.log
'

test_expect_success 'the entrypoint is POSIX sh and shellcheck clean' '
	shellcheck -s sh "$ENTRYPOINT"
'

test_expect_success 'docker-compose.yml passes docker-compose config (schema and interpolation)' '
	CLUSTER_SECRET=$SECRET docker-compose -f "$REPO_ROOT/docker/docker-compose.yml" config -q &&
	test_expect_code 1 env -u CLUSTER_SECRET docker-compose -f "$REPO_ROOT/docker/docker-compose.yml" config -q 2>nosecret.err &&
	grep -q "export CLUSTER_SECRET" nosecret.err
'

test_done
