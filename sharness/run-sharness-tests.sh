#!/usr/bin/env bash
# Runs the sharness suite: every sharness/t*.sh (or the files given), in place, with trash
# directories and test-results/ under sharness/; aggregates the results with Debian's
# aggregate-results.sh and exits non-zero if any test failed or any script died.
#
#   sharness/run-sharness-tests.sh [TEST.sh...]
#
# Environment (defaults in brackets):
#   SHARNESS_CASSANDRA     auto|1|0 [auto]: start Cassandra through scripts/with-cassandra.sh
#                          (WITH_SECURE [0]) when a selected test calls test_cassandra_require
#                          (auto), always (1) or never (0). A running instance is reused.
#   SHARNESS_ALLOW_SKIP    1: tests skipped for a missing prerequisite do not fail the run [0]
#   SHARNESS_OPTS          options for every test script, e.g. "-v" or "-v -i" []
#   SHARNESS_TEST_TIMEOUT  seconds per test script, then SIGTERM (SIGKILL 30 s later) [900]
#   SHARNESS_LIB           sharness.sh [/usr/share/sharness/sharness.sh]
#   SHARNESS_AGGREGATE     aggregate-results.sh [/usr/share/doc/sharness/contrib/aggregate-results.sh]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$here"

: "${SHARNESS_T0:=$(date +%s)}"
export SHARNESS_T0
CASS_MODE=${SHARNESS_CASSANDRA:-auto}
TEST_TIMEOUT=${SHARNESS_TEST_TIMEOUT:-900}
AGGREGATE=${SHARNESS_AGGREGATE:-/usr/share/doc/sharness/contrib/aggregate-results.sh}
export SHARNESS_LIB=${SHARNESS_LIB:-/usr/share/sharness/sharness.sh}

log() { printf 'run-sharness-tests: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

[[ -f $SHARNESS_LIB ]] || die "sharness not found at $SHARNESS_LIB (apt-get install sharness)"
for tool in jq curl timeout; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
[[ $TEST_TIMEOUT =~ ^[0-9]+$ ]] || die "SHARNESS_TEST_TIMEOUT must be a number of seconds"

tests=()
if (($# > 0)); then
	for t in "$@"; do
		t=${t##*/}
		[[ -f $t ]] || die "no such test: $t"
		tests+=("$t")
	done
else
	for t in t[0-9]*.sh; do
		[[ -f $t ]] && tests+=("$t")
	done
fi
((${#tests[@]} > 0)) || die "no test scripts (t*.sh) in $here"

# Cassandra: re-run this script under scripts/with-cassandra.sh, which starts it unless it
# runs, exports SCYLLASTATE_TEST_HOSTS/PORT and stops what it started when we are done.
if [[ -z ${SHARNESS_IN_CASSANDRA:-} ]]; then
	need=0
	case $CASS_MODE in
	1) need=1 ;;
	0) need=0 ;;
	auto) grep -q 'test_cassandra_require' "${tests[@]}" && need=1 ;;
	*) die "SHARNESS_CASSANDRA must be auto, 1 or 0" ;;
	esac
	if ((need == 1)); then
		log "starting Cassandra (scripts/with-cassandra.sh)"
		export SHARNESS_IN_CASSANDRA=1
		WITH_SECURE=${WITH_SECURE:-0} exec "$repo/scripts/with-cassandra.sh" "$here/run-sharness-tests.sh" "${tests[@]}"
	fi
fi

# explain_failure NAME: what a failed script did: the verbose output before each failed
# test and the end of every peer's and kubo's log in its trash directory (kept on failure).
explain_failure() {
	local log=test-results/$1.log f
	printf -- '--- %s: the verbose output before each failure ---\n' "$1"
	awk '/^(ok|not ok) [0-9]/ { if ($1 == "not") { print block; print; print "" } block = ""; next }
		{ block = block $0 "\n" }' "$log" | tail -n 150
	for f in "trash directory.$1"/*/*.log; do
		[[ -f $f ]] || continue
		printf -- '--- the last 30 lines of %s ---\n' "${f#trash directory.}"
		tail -n 30 "$f"
	done | tail -n 200
}

rm -rf test-results
mkdir -p test-results
read -r -a opts <<<"${SHARNESS_OPTS:-}"
died=()
for t in "${tests[@]}"; do
	name=${t%.sh}
	t1=$SECONDS
	printf '\n*** %s ***\n' "$t"
	rc=0
	# Every script runs verbose into test-results/NAME.log; the terminal gets its TAP lines
	# (test-results/NAME.out), and a failure's commands, output and peers' logs.
	timeout -k 30 "$TEST_TIMEOUT" bash "./$t" -v "${opts[@]}" >"test-results/$name.log" 2>&1 || rc=$?
	grep -E '^(ok |not ok |#|1\.\.)' "test-results/$name.log" | tee "test-results/$name.out" || true
	printf '*** %s: exit %s in %ss\n' "$t" "$rc" "$((SECONDS - t1))"
	if ((rc != 0)); then
		died+=("$t")
		explain_failure "$name"
		# A script that died before test_done wrote no counts: count it as one failure.
		if ! compgen -G "test-results/$name.*.counts" >/dev/null; then
			printf 'total 1\nsuccess 0\nfixed 0\nbroken 0\nfailed 1\n\n' >"test-results/$name.0.counts"
		fi
	fi
done

printf '\n'
if [[ -f $AGGREGATE ]]; then
	summary=$(find test-results -name '*.counts' | sort | sh "$AGGREGATE")
else
	log "no $AGGREGATE: summing the counts here"
	summary=$(awk '$1 ~ /^(fixed|success|failed|broken|total)$/ { n[$1] += $2 }
		END { for (k in n) printf "%-8s%d\n", k, n[k] }' test-results/*.counts)
fi
printf '%s\n' "$summary"
count() { awk -v k="$1" '$1 == k && $2 ~ /^[0-9]+$/ { print $2 }' <<<"$summary"; }
success=$(count success)
failed=$(count failed)
broken=$(count broken)
total=$(count total)

elapsed=$(($(date +%s) - SHARNESS_T0))
printf '\n%s script(s), %s test(s), %s known breakage(s); total time %ss\n' \
	"${#tests[@]}" "${total:-0}" "${broken:-0}" "$elapsed"
if ((${#died[@]} > 0)); then
	printf 'script(s) that exited non-zero: %s\n' "${died[*]}"
fi
# sharness counts a test skipped for a missing prerequisite (kubo, jq, a
# binary) as a success: here a skip fails the run, unless allowed.
skipped=$(grep -hE '^ok [0-9]+ # skip' test-results/*.out 2>/dev/null || true)
nskipped=0
[[ -z $skipped ]] || nskipped=$(wc -l <<<"$skipped")
printf 'sharness: %s passed, %s failed, %s skipped\n' "$((${success:-0} - nskipped))" "${failed:-0}" "$nskipped"
if ((nskipped > 0)); then
	printf '%s\n' "$skipped"
	if [[ ${SHARNESS_ALLOW_SKIP:-0} != 1 ]]; then
		log "tests were skipped for missing prerequisites: install or build them (make build kubo), or set SHARNESS_ALLOW_SKIP=1"
		exit 1
	fi
fi
if ((${failed:-0} > 0 || ${#died[@]} > 0 || ${total:-0} == 0)); then
	exit 1
fi
