# shellcheck shell=bash
# Sourced by scripts/cassandra.sh: the CQL probe (scripts/cqlprobe, Go), built once per
# source version into the cache dir, and run with the instance's hosts, auth and TLS.
# Uses REPO_ROOT, CACHE_DIR, GO, HOSTS, PORT, AUTH, TLS, TLS_DIR, log, die.

PROBE=''
PROBE_SRC=$REPO_ROOT/scripts/cqlprobe

# prepare_probe: set PROBE to the probe's binary, building it if its source (or go.mod,
# go.sum) changed; the build log is $CACHE_DIR/cqlprobe.build.log.
prepare_probe() {
	[[ -n $PROBE ]] && return 0
	[[ -f $PROBE_SRC/main.go ]] || {
		log "the CQL probe's source is missing ($PROBE_SRC)"
		return 1
	}
	local sum bin tmp
	sum=$(find "$PROBE_SRC" -maxdepth 1 -name '*.go' ! -name '*_test.go' | sort |
		xargs cat "$REPO_ROOT/go.mod" "$REPO_ROOT/go.sum" | sha256sum | cut -c1-12)
	bin=$CACHE_DIR/cqlprobe-$sum
	if [[ ! -x $bin ]]; then
		command -v "$GO" >/dev/null 2>&1 || {
			log "'$GO' not found: Go builds the CQL probe (set GO)"
			return 1
		}
		mkdir -p "$CACHE_DIR"
		tmp=$(mktemp "$CACHE_DIR/.cqlprobe.XXXXXX")
		log "building the CQL probe (scripts/cqlprobe) into $bin"
		if ! (cd "$REPO_ROOT" && "$GO" build -trimpath -o "$tmp" ./scripts/cqlprobe) >"$CACHE_DIR/cqlprobe.build.log" 2>&1; then
			cat "$CACHE_DIR/cqlprobe.build.log" >&2
			rm -f "$tmp"
			return 1
		fi
		mv -f "$tmp" "$bin"
		find "$CACHE_DIR" -maxdepth 1 -name 'cqlprobe-*' ! -name "${bin##*/}" -delete
	fi
	PROBE=$bin
}

# run_probe [PROBE FLAGS...]: the probe on every host, with the instance's auth and TLS.
run_probe() {
	prepare_probe || die "cannot build the CQL probe (needs Go: see $CACHE_DIR/cqlprobe.build.log)"
	local -a args=(-hosts "$HOSTS" -port "$PORT")
	[[ $AUTH == 1 ]] && args+=(-user cassandra)
	[[ $TLS == 1 ]] && args+=(-ca "$TLS_DIR/ca.pem" -cert "$TLS_DIR/client.pem" -key "$TLS_DIR/client-key.pem")
	CQLPROBE_PASSWORD=cassandra "$PROBE" "${args[@]}" "$@"
}
