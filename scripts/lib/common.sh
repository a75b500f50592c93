# shellcheck shell=bash
# Process and network helpers shared by scripts/cassandra.sh, scripts/kubo.sh
# (through lib/instance.sh) and the sharness helpers (sharness/lib/peers.sh).

# tcp_open HOST PORT: something accepts TCP connections there (2 s at most).
# shellcheck disable=SC2016 # $1/$2 expand in the child bash, on purpose
tcp_open() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
	else
		bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
	fi
}

# proc_stat PID: print "STATE STARTTIME" of PID from /proc/PID/stat (state
# letter, start time in clock ticks since boot); fails if PID is gone or
# /proc cannot tell.
proc_stat() {
	local s
	[[ $1 =~ ^[0-9]+$ && -r /proc/$1/stat ]] || return 1
	s=$(<"/proc/$1/stat") 2>/dev/null || return 1
	s=${s##*) } # the fields after "(comm) ", whatever comm holds
	local -a f
	read -r -a f <<<"$s"
	((${#f[@]} >= 20)) || return 1
	printf '%s %s\n' "${f[0]}" "${f[19]}"
}

# proc_has_arg PID WORD: one of PID's argv words is WORD (true where /proc cannot tell).
proc_has_arg() {
	[[ -r /proc/$1/cmdline ]] || return 0
	local -a args
	mapfile -d '' -t args <"/proc/$1/cmdline" 2>/dev/null || return 1
	local a
	for a in "${args[@]}"; do
		[[ $a == "$2" ]] && return 0
	done
	return 1
}

# proc_is PID WORD: PID runs, is not a zombie and, where /proc tells, one
# of its argv words is WORD (so a recycled PID is not taken for ours).
proc_is() {
	local pid=$1 st
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if st=$(proc_stat "$pid"); then
		[[ ${st%% *} == [ZX] ]] && return 1
	fi
	proc_has_arg "$pid" "$2"
}

# procs_with_arg WORD: print the pids of the processes that have WORD as an argv word.
procs_with_arg() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p != "$$" && $p != "$BASHPID" ]] || continue
		proc_has_arg "$p" "$1" 2>/dev/null && [[ -r /proc/$p/cmdline ]] && printf '%s\n' "$p"
	done
	return 0
}

# pid_record FILE PID: write PID to FILE (the pid alone, for other readers)
# and its start time to FILE.start. With the start time, pid_running knows
# the process before it has exec'ed its program, and never takes a recycled
# PID for it.
pid_record() {
	local st
	printf '%s\n' "$2" >"$1"
	if st=$(proc_stat "$2"); then
		printf '%s\n' "${st#* }" >"$1.start"
	else
		rm -f "$1.start"
	fi
}

# pid_forget FILE: remove FILE and FILE.start.
pid_forget() { rm -f "$1" "$1.start"; }

# proc_alive PID START WORD: PID runs and is not a zombie, and it is ours: its
# start time is START, or (START empty: a pid file of an older script) WORD is
# one of its argv words.
proc_alive() {
	local pid=$1 start=$2 st
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	st=$(proc_stat "$pid") || {
		[[ -d /proc/$pid ]] && return 1 # gone between the two looks
		return 0                        # no /proc: kill -0 is all we have
	}
	[[ ${st%% *} == [ZX] ]] && return 1
	if [[ -n $start ]]; then
		[[ ${st#* } == "$start" ]]
	else
		proc_has_arg "$pid" "$3"
	fi
}

# pid_running FILE WORD: print the pid recorded in FILE if that process runs
# (see proc_alive); else print nothing, remove the stale FILE and fail.
pid_running() {
	local file=$1 pid start=''
	[[ -f $file ]] || return 1
	pid=$(<"$file") 2>/dev/null || pid=''
	[[ -f $file.start ]] && { start=$(<"$file.start") || start=''; }
	if proc_alive "$pid" "$start" "$2"; then
		printf '%s\n' "$pid"
		return 0
	fi
	pid_forget "$file"
	return 1
}

# proc_paused PID: PID is stopped (SIGSTOP).
proc_paused() {
	local st
	st=$(proc_stat "$1") || return 1
	[[ ${st%% *} == T ]]
}
