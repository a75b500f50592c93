#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="bad scyllastate values in service.json give a clear error and exit non-zero"

. "$(dirname "$0")/lib/test-lib.sh"

# bad_value KEY JSON_VALUE [FIELD]: the daemon refuses the value, exit 1, and names
# scyllastate.FIELD (default KEY).
bad_value() {
	local key=$1 value=$2 field=${3:-$1}
	cp -r good "bad-$key" &&
	rm -f "bad-$key/cluster.lock" &&
	cluster_config_set "bad-$key" ".state.scyllastate[\$k] = \$v" --arg k "$key" --argjson v "$value" &&
	test_expect_code 1 ipfs-cluster-service --config "bad-$key" daemon >"out-$key" 2>&1 &&
	grep -q "scyllastate.$field" "out-$key"
}

test_expect_success 'init --datastore scylla writes a valid configuration' '
	cluster_init good --randomports
'

test_expect_success 'an unsafe keyspace name is refused before any CQL' '
	bad_value keyspace "\"pins; DROP KEYSPACE system\"" &&
	grep -q "keyspace" out-keyspace
'

test_expect_success 'an unknown consistency is refused' '
	bad_value consistency "\"MOSTLY\""
'

test_expect_success 'a port out of range is refused' '
	bad_value port 70000
'

test_expect_success 'a duration that does not parse is refused' '
	bad_value timeout "\"soon\""
'

test_expect_success 'a password without a username is refused and not printed' '
	bad_value password "\"hunter2-secret\"" username &&
	! grep -q hunter2-secret out-password
'

test_expect_success 'a bad consensus.scylla value names its field' '
	cp -r good bad-poll && rm -f bad-poll/cluster.lock &&
	cluster_config_set bad-poll ".consensus.scylla.poll_interval = \"1ns\"" &&
	test_expect_code 1 ipfs-cluster-service --config bad-poll daemon >out-poll 2>&1 &&
	grep -q "consensus.scylla.poll_interval" out-poll
'

test_expect_success 'environment overrides are checked too, at init and at daemon start' '
	test_expect_code 1 env CLUSTER_SCYLLASTATE_CONSISTENCY=MOSTLY ipfs-cluster-service --config envinit init --datastore scylla >out-envinit 2>&1 &&
	grep -q "scyllastate.consistency" out-envinit &&
	test_expect_code 1 env CLUSTER_SCYLLASTATE_PORT=0 ipfs-cluster-service --config good daemon >out-envd 2>&1 &&
	grep -q "scyllastate.port" out-envd
'

test_done
