#!/usr/bin/env bash
# Runs the test harness's command line (scripts/harness, Go; internal/harness):
#   scripts/harness.sh cassandra|kubo|cluster|deps COMMAND [ARGS] | demo | with-cassandra CMD... | sharness [TEST.sh...]
# scripts/cassandra.sh, kubo.sh, deps.sh, with-cassandra.sh and sharness/run-sharness-tests.sh call it. The binary is built once per source
# version (a hash of its Go sources, templates, go.mod and go.sum) into
# $HARNESS_CACHE_DIR [${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-cluster-scylla]; GO [go] builds it.
# It runs with HARNESS_ROOT set to the repository (tools/kubo, bin/).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${HARNESS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-cluster-scylla}
go=${GO:-go}

sum=$(cd "$root" && find internal/harness internal/procstat scripts/harness -type f ! -name '*_test.go' | LC_ALL=C sort |
	xargs cat go.mod go.sum | sha256sum | cut -c1-16)
bin=$cache/harness-$sum
if [[ ! -x $bin ]]; then
	command -v "$go" >/dev/null 2>&1 || {
		echo "harness.sh: '$go' not found: Go builds the test harness (set GO)" >&2
		exit 1
	}
	mkdir -p "$cache"
	tmp=$(mktemp "$cache/.harness.XXXXXX")
	echo "harness.sh: building the test harness (scripts/harness) into $bin" >&2
	if ! (cd "$root" && "$go" build -trimpath -o "$tmp" ./scripts/harness) >"$cache/harness.build.log" 2>&1; then
		cat "$cache/harness.build.log" >&2
		rm -f "$tmp"
		exit 1
	fi
	mv -f "$tmp" "$bin"
	find "$cache" -maxdepth 1 -name 'harness-*' ! -name "${bin##*/}" -mmin +60 -delete 2>/dev/null || true
fi
HARNESS_ROOT=$root exec "$bin" "$@"
