# shellcheck shell=bash
# The skeleton shared by scripts/cassandra.sh and scripts/kubo.sh: logging,
# command dispatch with usage, the recorded settings of an instance
# (instance.conf), background processes with pid files, log tails and
# `export` lines. Each script keeps what is its own.
#
# The includer sets TOOL (log prefix, e.g. cassandra.sh) and NAME (instance),
# defines usage(), check_common() (validation before any command) and one
# cmd_NAME function per command (`stop-node` runs cmd_stop_node), then runs
# `instance_main "$@"`.

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

log() { printf '%s[%s]: %s\n' "$TOOL" "$NAME" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# instance_main [COMMAND [ARGS...]]: `help`, `-h` or nothing prints the usage;
# COMMAND runs cmd_COMMAND (dashes as underscores) after check_common.
instance_main() {
	local cmd=${1:-help} fn
	(($# > 0)) && shift
	case $cmd in
	help | -h | --help)
		usage
		return 0
		;;
	esac
	fn=cmd_${cmd//-/_}
	if [[ ! $cmd =~ ^[a-z][a-z-]*$ ]] || ! declare -F "$fn" >/dev/null; then
		usage >&2
		die "unknown command '$cmd'"
	fi
	check_common
	"$fn" "$@"
}

# ---------------------------------------------------------------------------
# Checks (VAR names the environment variable in the message)
# ---------------------------------------------------------------------------
check_name() { [[ $2 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "$1 must match [A-Za-z0-9][A-Za-z0-9._-]* (got '$2')"; }
check_seconds() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a number of seconds (got '$2')"; }
check_bool() { [[ $2 == 0 || $2 == 1 ]] || die "$1 must be 0 or 1 (got '$2')"; }
check_port() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then die "$1 must be a port number (got '$2')"; fi
}

# ---------------------------------------------------------------------------
# Recorded settings: KEY=VALUE lines in the instance's instance.conf
# ---------------------------------------------------------------------------
declare -gA RECORDED=()

# conf_load FILE: read FILE (if any) into RECORDED.
conf_load() {
	local k v
	RECORDED=()
	[[ -f $1 ]] || return 0
	while IFS='=' read -r k v; do
		[[ $k =~ ^[A-Z_]+$ ]] && RECORDED[$k]=$v
	done <"$1"
	return 0
}

# setting ENVVAR KEY DEFAULT: print the environment's ENVVAR if set, else the
# recorded KEY, else DEFAULT.
setting() {
	local env=${!1:-}
	printf '%s\n' "${env:-${RECORDED[$2]:-$3}}"
}

# conf_save FILE VAR...: record each shell variable VAR as VAR=value.
conf_save() {
	local file=$1 v
	shift
	for v in "$@"; do printf '%s=%s\n' "$v" "${!v}"; done >"$file"
}

# ---------------------------------------------------------------------------
# Background processes
# ---------------------------------------------------------------------------

# close_extra_fds: close every fd above 2 (and below 255) so that a daemon does
# not keep a caller's pipe open (e.g. sharness's fds 3-6, or a `| tee` in CI).
close_extra_fds() {
	local f fd
	for f in /proc/self/fd/*; do
		fd=${f##*/}
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2 && fd < 255)); then
			eval "exec $fd>&-" 2>/dev/null || true
		fi
	done
}

# spawn PIDFILE WORD LOG WORKDIR CMD...: start CMD in WORKDIR in the background,
# immune to SIGHUP (as nohup), stdin from /dev/null, output to LOG, no fd above 2;
# record its pid in PIDFILE, then wait (10 s at most) until it has exec'ed CMD
# (WORD is one of its argv words). Fails if it died already.
spawn() {
	local pidfile=$1 word=$2 logf=$3 wd=$4 pid i
	shift 4
	(
		cd "$wd" || exit 1
		close_extra_fds
		trap '' HUP
		exec "$@" >"$logf" 2>&1 </dev/null
	) &
	pid=$!
	pid_record "$pidfile" "$pid"
	for ((i = 0; i < 100; i++)); do
		pid_running "$pidfile" "$word" >/dev/null || return 1
		proc_has_arg "$pid" "$word" && return 0
		sleep 0.1
	done
	return 0 # slow to exec: pid_running still knows it by its start time
}

# stop_procs SIG TIMEOUT [LABEL PIDFILE WORD]...: send SIG (TERM or KILL) to
# each recorded process that runs (SIGCONT too, so that a paused one acts on
# SIGTERM), wait until all are gone, SIGKILL those left after TIMEOUT s;
# remove the pid files. Idempotent.
stop_procs() {
	local sig=$1 timeout=$2 pid k deadline alive
	shift 2
	local -a pids=() starts=() words=() labels=() files=()
	while (($# >= 3)); do
		if pid=$(pid_running "$2" "$3"); then
			log "$1: SIG$sig pid $pid"
			labels+=("$1")
			pids+=("$pid")
			starts+=("$(cat "$2.start" 2>/dev/null || true)")
			words+=("$3")
			files+=("$2")
			kill "-$sig" "$pid" 2>/dev/null || true
			[[ $sig == KILL ]] || kill -CONT "$pid" 2>/dev/null || true
		fi
		shift 3
	done
	deadline=$((SECONDS + timeout))
	while :; do
		alive=()
		for k in "${!pids[@]}"; do
			proc_alive "${pids[k]}" "${starts[k]}" "${words[k]}" && alive+=("$k")
		done
		if ((${#alive[@]} == 0)); then
			for k in "${!files[@]}"; do pid_forget "${files[k]}"; done
			return 0
		fi
		if ((SECONDS >= deadline)); then
			[[ $sig == KILL ]] && die "pid(s) $(for k in "${alive[@]}"; do printf '%s ' "${pids[k]}"; done)survive SIGKILL"
			for k in "${alive[@]}"; do
				log "${labels[k]}: pid ${pids[k]} still alive after ${timeout}s: SIGKILL"
				kill -KILL "${pids[k]}" 2>/dev/null || true
			done
			sig=KILL
			deadline=$((SECONDS + 30))
		fi
		sleep 0.2
	done
}

# pid_adopt LABEL PIDFILE WORD: with no running process in PIDFILE, record the
# one process that has WORD as an argv word, if any (left by a crashed script).
pid_adopt() {
	pid_running "$2" "$3" >/dev/null && return 0
	local -a found
	mapfile -t found < <(procs_with_arg "$3")
	((${#found[@]} == 1)) || return 0
	log "$1: found pid ${found[0]} running without a pid file: adopting it"
	pid_record "$2" "${found[0]}"
}

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

# show_tail LABEL FILE...: the last 60 lines of each non-empty FILE, on stderr.
show_tail() {
	local label=$1 f
	shift
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf '\n===== %s: last 60 lines of %s =====\n' "$label" "$f" >&2
		tail -n 60 "$f" >&2
	done
	printf '\n' >&2
}

# tail_logs LINES FOLLOW FILE...: tail the files (FOLLOW=1: follow them).
tail_logs() {
	local lines=$1 follow=$2
	shift 2
	[[ $lines =~ ^[0-9]+$ ]] || die "the number of log lines must be a number (got '$lines')"
	if [[ $follow == 1 ]]; then
		exec tail -n "$lines" -F "$@"
	fi
	tail -n "$lines" "$@"
}

# export_line NAME VALUE: plain `export NAME=VALUE`, single-quoted only if needed.
export_line() {
	local v=$2
	if [[ ! $v =~ ^[A-Za-z0-9_./,:@+=-]*$ ]]; then
		v="'${v//\'/\'\\\'\'}'"
	fi
	printf 'export %s=%s\n' "$1" "$v"
}
