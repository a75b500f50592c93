#!/usr/bin/env bash
# Runs the side-by-side benchmark harness (bin/bench-compare, see bench/compare) with a database:
#   BENCH_DB=main (default): the test instance "main" on 127.0.0.1, reused if it runs, else
#                            started and stopped here (scripts/with-cassandra.sh)
#   BENCH_DB=own:            a dedicated instance "bench" on 127.0.0.3, started and stopped
#                            here, so that no other client's load counts in the database figures;
#                            after its start it is left to settle for BENCH_DB_SETTLE [60] seconds
#                            (start-up compactions would count in the baseline)
#   BENCH_DB=remote:         a database on other machines (ScyllaDB), started by no one here:
#                            give -db-hosts, -db-port and -db-metrics (each node's Prometheus
#                            endpoint, http://NODE:9180/metrics), from which its cost is read
#
# The report, JSON and chart go to a new temporary folder (printed at the end) unless -out
# names one: the committed results change only with -out bench/results.
#
#   scripts/bench-compare.sh -mode quick
#   scripts/bench-compare.sh -mode quick -sizes 10k -many-peers 24 -many-peers-size 100k
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=$root/bin/bench-compare
[[ -x $bench ]] || {
	echo "bench-compare.sh: $bench is missing: run make bench-tools" >&2
	exit 1
}

case ${BENCH_DB:-main} in
main)
	WITH_SECURE=0 exec "$root/scripts/with-cassandra.sh" "$bench" "$@"
	;;
own)
	export CASSANDRA_NAME=bench CASSANDRA_HOSTS=127.0.0.3 CASSANDRA_PORT=9042
	cass=$root/scripts/cassandra.sh
	if ! "$cass" status >/dev/null 2>&1; then
		trap '"$cass" stop || true' EXIT
		trap 'exit 130' INT TERM
		"$cass" start
		echo "bench-compare.sh: letting the new database settle for ${BENCH_DB_SETTLE:-60}s" >&2
		sleep "${BENCH_DB_SETTLE:-60}"
	fi
	"$bench" -db-hosts 127.0.0.3 -db-port 9042 "$@"
	;;
remote)
	case " $* " in
	*" -db-metrics "*) ;;
	*)
		echo "bench-compare.sh: BENCH_DB=remote needs -db-metrics http://NODE:9180/metrics[,...] (and -db-hosts)" >&2
		exit 2
		;;
	esac
	exec "$bench" "$@"
	;;
*)
	echo "bench-compare.sh: BENCH_DB=${BENCH_DB} is neither main, own nor remote" >&2
	exit 2
	;;
esac
