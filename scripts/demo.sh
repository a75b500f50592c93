#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs name their $variables in single quotes
# make demo: a local Scylla-backed cluster, end to end, on this machine.
#
# Starts Apache Cassandra (scripts/cassandra.sh) unless it runs, three kubo
# daemons and three ipfs-cluster-service peers sharing one keyspace, adds and
# pins a file through ipfs-cluster-ctl, shows `peers ls`, `status` and the
# metrics, then stops everything it started (also on Ctrl-C or an error).
# It uses the helpers of the sharness suite (sharness/lib/peers.sh).
#
# Environment: DEMO_DIR [/tmp/ipfs-cluster-scylla-demo], DEMO_WAIT=1 waits for
# Enter before stopping (default: when stdin is a terminal), which keeps the
# cluster and its metrics URL up. NO_COLOR: no bold headings.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-/tmp/ipfs-cluster-scylla-demo}
cass=$repo/scripts/cassandra.sh

# Bold headings on a terminal only (and not with NO_COLOR): no escape codes in logs.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	step() { printf '\n== %s\n' "$*"; }
fi

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
TEST_BIN_DIR=$repo/bin
TEST_KUBO_DIR=$DEMO_DIR/kubo
TEST_LIB_STATE=$DEMO_DIR/.state
TEST_ORIG_HOME=$HOME
mkdir -p "$TEST_LIB_STATE"
export TEST_BIN_DIR TEST_KUBO_DIR TEST_LIB_STATE TEST_ORIG_HOME
exec 4>>"$DEMO_DIR/helpers.log" # what the helpers say about processes
# shellcheck source-path=SCRIPTDIR source=../sharness/lib/peers.sh
. "$repo/sharness/lib/peers.sh"

db_started=0
finish() {
	local code=$?
	step "stopping what the demo started"
	_tl_reap_all
	if [ "$db_started" = 1 ]; then
		"$cass" stop || true
	fi
	case $code in
	0) ;;
	130) echo "interrupted; logs in $DEMO_DIR" >&2 ;;
	*) echo "demo failed (exit $code); logs in $DEMO_DIR" >&2 ;;
	esac
	exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM

cd "$DEMO_DIR"

step "Cassandra on 127.0.0.1:9042"
if "$cass" status >/dev/null 2>&1; then
	echo "already running: reused (and left running)"
else
	db_started=1
	"$cass" start
fi
eval "$("$cass" env)"
KS=$(test_keyspace)
echo "keyspace for this demo: $KS (dropped at the end)"

step "three kubo daemons (throwaway repos, loopback only)"
for i in 0 1 2; do
	test_kubo_start "kubo$i" "$(test_free_port)" "$(test_free_port)"
	echo "kubo$i: API on 127.0.0.1:$(test_kubo_api_port "kubo$i")"
done

step "three cluster peers: init --datastore scylla, one keyspace"
CLUSTER_SECRET=$(od -vN 32 -An -tx1 /dev/urandom | tr -d ' \n')
export CLUSTER_SECRET
METRICS_PORT=$(test_free_port)
for i in 0 1 2; do
	cluster_init "peer$i" --randomports
	cluster_config_scylla "peer$i" "$KS"
	cluster_config_ipfs "peer$i" "$(test_kubo_api_port "kubo$i")"
	cluster_config_set "peer$i" '.cluster.peername = $n | .state.scyllastate.metrics_enabled = true' --arg n "peer$i"
done
cluster_config_set peer0 '.observations.metrics.enable_stats = true
	| .observations.metrics.prometheus_endpoint = $ep' --arg ep "/ip4/127.0.0.1/tcp/$METRICS_PORT"
jq '.state.scyllastate | {hosts, port, keyspace, consistency}' peer0/service.json

cluster_start peer0
for i in 1 2; do
	cluster_start "peer$i" --bootstrap "$(cluster_addr peer0)"
done

for i in 0 1 2; do
	test_wait_for 60 cluster_ready "peer$i"
done
test_wait_for 60 cluster_sees_peers peer0 3
# Adding needs every peer's ping and freespace metrics (allocation), as upstream.
for i in 0 1 2; do
	cluster_wait_metrics "peer$i" 60
done

step "ipfs-cluster-ctl peers ls (through peer0)"
ctlCmd peer0 peers ls

step "ipfs-cluster-ctl add: a file pinned by every peer"
printf 'hello from ipfs-cluster-scylla, %s\n' "$(date -u)" >hello.txt
CID=$(ctlCmd peer0 add -q --name demo-file hello.txt)
echo "added $CID"
test_wait_for 60 cluster_status_is peer0 "$CID" pinned

step "ipfs-cluster-ctl status $CID"
ctlCmd peer0 status "$CID"

step "the shared pinset, seen from peer2 and from kubo2"
ctlCmd peer2 pin ls
ipfsCmd kubo2 pin ls --type=recursive "$CID"

step "metrics"
echo "Prometheus metrics of peer0: http://127.0.0.1:$METRICS_PORT/metrics"
wait_for_enter=${DEMO_WAIT:-$([ -t 0 ] && echo 1 || echo 0)}
if [ "$wait_for_enter" = 1 ]; then
	echo "(it answers until you press Enter at the end of the demo)"
else
	echo "(it answers only while the demo runs, which stops everything at its end:"
	echo " DEMO_WAIT=1 make demo keeps the cluster and this URL up until you press Enter)"
fi
echo "(enabled by observations.metrics.enable_stats, or daemon --stats; store metrics by state.scyllastate.metrics_enabled)"
scrape() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -q '^ipfscluster_scyllastate_operation_duration_seconds_count'; }
if test_wait_for 40 scrape; then
	curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^ipfscluster_scyllastate_operation_duration_seconds_count' | head -12
fi
echo "logs: $DEMO_DIR/peer*/daemon.log"

if [ "$wait_for_enter" = 1 ]; then
	step "the cluster is running; try: bin/ipfs-cluster-ctl --host /ip4/127.0.0.1/tcp/$(cluster_restapi_port peer0) status"
	read -r -p "press Enter to stop everything " _
fi
