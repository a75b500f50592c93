# shellcheck shell=bash
# Helpers shared by scripts/cassandra.sh and scripts/kubo.sh.

# tcp_open HOST PORT: something accepts TCP connections there (2 s at most).
# shellcheck disable=SC2016 # $1/$2 expand in the child bash, on purpose
tcp_open() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
	else
		bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
	fi
}

# proc_is PID WORD: PID runs, is not a zombie and, where /proc tells, one
# of its argv words is WORD (so a recycled PID is not taken for ours).
proc_is() {
	local pid=$1 want=$2 state
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/stat ]]; then
		state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || state=''
		[[ $state == Z || $state == X ]] && return 1
	fi
	[[ -r /proc/$pid/cmdline ]] || return 0
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$want"
}
