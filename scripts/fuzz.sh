#!/usr/bin/env bash
# Runs every Go fuzz target of the module (func FuzzXxx in a _test.go file), one after the
# other, for FUZZTIME each, and prints the exec count of each. `go test ./...` already runs
# their seed corpora (testdata/fuzz/<target>/ and f.Add); this searches for new inputs. A
# failing input is written to testdata/fuzz/<target>/ of its package: fix the code, keep the
# file as a regression seed.
#
#   scripts/fuzz.sh [PACKAGE...]      default: every package of the module
#
# Environment: FUZZTIME [1m] per target, FUZZ_PARALLEL [GOMAXPROCS] workers, GO [go].
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-1m}
par=()
[[ -z ${FUZZ_PARALLEL:-} ]] || par=(-parallel "$FUZZ_PARALLEL")

pkgs=("$@")
((${#pkgs[@]} > 0)) || mapfile -t pkgs < <("$GO" list ./...)

summary=()
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in "${targets[@]}"; do
		printf '\n=== %s %s (%s)\n' "$pkg" "$t" "$FUZZTIME"
		log=$(mktemp)
		rc=0
		"$GO" test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "${par[@]}" "$pkg" 2>&1 | tee "$log" || rc=$?
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 || true)
		rm -f "$log"
		summary+=("$pkg $t: ${execs:-no execs} $([[ $rc == 0 ]] && echo ok || echo FAILED)")
		if [[ $rc != 0 ]]; then
			printf '%s\n' "${summary[@]}"
			exit "$rc"
		fi
	done
done
printf '\n'
printf '%s\n' "${summary[@]}"
