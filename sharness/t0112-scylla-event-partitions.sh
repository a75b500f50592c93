#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-service scylla event-partitions: shows the change feed layout, refuses bad values, asks first, schedules a change that a running peer picks up by itself"

. "$(dirname "$0")/lib/test-lib.sh"

test_cassandra_require

ep() { ipfs-cluster-service --config "$1" scylla event-partitions "${@:2}"; }

# layout_changed DIR KS N: the peer's log says it picked up N partitions per minute.
layout_changed() {
	grep -q "the change feed layout of keyspace \"$2\" changed: 32 partitions per minute, then $3 from" "$1/daemon.log"
}

test_expect_success CASSANDRA,JQ 'a peer folder on a fresh keyspace' '
	KS=$(test_keyspace) &&
	cluster_init p --randomports &&
	cluster_config_scylla p "$KS"
'

test_expect_success CASSANDRA 'without N: the layout of a new keyspace (the default 32) and the setting' '
	ep p >show.txt &&
	grep -qx "change feed layout of keyspace \"$KS\":" show.txt &&
	grep -qx "  32 partitions per minute since the keyspace was created (in effect)" show.txt &&
	grep -qx "state.scyllastate.event_partitions: 32 (used only when a peer creates the keyspace)" show.txt
'

test_expect_success CASSANDRA 'bad arguments fail and say why' '
	test_expect_code 1 ep p 0 2>zero.err &&
	grep -q "N is 0: the change feed takes 1 to 128 partitions per minute" zero.err &&
	test_expect_code 1 ep p --from-config 8 2>both.err &&
	grep -q "give one of them" both.err
'

test_expect_success CASSANDRA 'no answer at the prompt: nothing is scheduled' '
	ep p 8 </dev/null >no.txt 2>no.err &&
	grep -q "Continue? \[y/n\]" no.err &&
	ep p >show-no.txt &&
	! grep -q scheduled no.txt show-no.txt
'

test_expect_success CASSANDRA,KUBO,JQ 'a running peer' '
	test_kubo_start_free kubo0 &&
	cluster_config_ipfs p "$(test_kubo_api_port kubo0)" &&
	cluster_start p
'

test_expect_success CASSANDRA,KUBO 'with --yes next to the running peer: scheduled 10 minutes ahead' '
	ep p --yes 8 >yes.txt &&
	grep -q "^scheduled: the change feed of keyspace \"$KS\" uses 8 partitions per minute from " yes.txt &&
	grep -q "picks the change up by itself" yes.txt &&
	ep p >show-8.txt &&
	grep -q "^  8 partitions per minute from .* (scheduled, in " show-8.txt &&
	ep p --yes 8 >again.txt &&
	grep -q "already has 8 partitions per minute scheduled" again.txt
'

test_expect_success CASSANDRA,KUBO 'the running peer picks the change up by itself' '
	test_wait_for 90 layout_changed p "$KS" 8
'

test_expect_success CASSANDRA,KUBO 'the peer stops' '
	cluster_stop p
'

test_done
