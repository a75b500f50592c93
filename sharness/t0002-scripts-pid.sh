#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="pid files of scripts/lib: a process is ours from its fork on (before it exec's), never a recycled pid; spawn, pause, stop"

. "$(dirname "$0")/lib/test-lib.sh"

# lib CMD...: run CMD in a subshell that has loaded scripts/lib/instance.sh (which defines
# its own die(), so it must not be loaded into the sharness shell itself).
lib() { (TOOL=t0002 NAME=test && . "$REPO_ROOT/scripts/lib/instance.sh" && "$@"); }

# Unusual sleep lengths: the argv word that tells our processes from any other.
W1=4242.25
W2=4242.5
W3=4242.75

test_expect_success 'a process that has not exec-ed its program yet counts as running' '
	(sleep 2 && exec sleep "$W1") &
	PID1=$! &&
	lib pid_record p1.pid "$PID1" &&
	test -s p1.pid.start &&
	test "$(lib pid_running p1.pid "$W1")" = "$PID1" &&
	test_must_fail lib proc_has_arg "$PID1" "$W1"
'

test_expect_success 'after the exec it is still the same process' '
	test_wait_for 5 lib proc_has_arg "$PID1" "$W1" &&
	test "$(lib pid_running p1.pid "$W1")" = "$PID1"
'

test_expect_success 'a recycled pid (another start time) is not ours, and the stale file goes' '
	echo 12345 >p1.pid.start &&
	test_must_fail lib pid_running p1.pid "$W1" &&
	test ! -e p1.pid &&
	test ! -e p1.pid.start
'

test_expect_success 'a pid file of an older script (no start time) is checked by argv word' '
	echo "$PID1" >old.pid &&
	test "$(lib pid_running old.pid "$W1")" = "$PID1" &&
	test_must_fail lib pid_running old.pid no-such-word &&
	test ! -e old.pid
'

test_expect_success 'pid_adopt records the one process that has the word, pid file lost' '
	lib pid_adopt test lost.pid "$W1" 2>adopt.log &&
	test "$(cat lost.pid)" = "$PID1" &&
	grep -q "adopting it" adopt.log &&
	kill "$PID1" && test_pid_gone "$PID1"
'

test_expect_success 'spawn returns once the program runs, detached from our fds' '
	lib spawn s.pid "$W2" s.log "$PWD" sleep "$W2" 3>/dev/null &&
	PID2=$(cat s.pid) &&
	lib proc_has_arg "$PID2" "$W2" &&
	test "$(readlink "/proc/$PID2/fd/0")" = /dev/null &&
	test ! -e "/proc/$PID2/fd/3"
'

test_expect_success 'a paused process is seen as paused, and SIGTERM still stops it' '
	kill -STOP "$PID2" &&
	test_wait_for 5 lib proc_paused "$PID2" &&
	test "$(lib pid_running s.pid "$W2")" = "$PID2" &&
	lib stop_procs TERM 10 sleeper s.pid "$W2" 2>stop.log &&
	test_pid_gone "$PID2" &&
	test ! -e s.pid &&
	test ! -e s.pid.start
'

test_expect_success 'stop_procs SIGKILLs a process that ignores SIGTERM after the timeout' '
	lib spawn t.pid "$W3" t.log "$PWD" bash -c "trap \"\" TERM; exec sleep $W3" &&
	PID3=$(cat t.pid) &&
	lib stop_procs TERM 1 stubborn t.pid "$W3" 2>kill.log &&
	test_pid_gone "$PID3" &&
	grep -q "still alive after 1s: SIGKILL" kill.log
'

test_expect_success 'stop_procs of nothing that runs is a no-op' '
	lib stop_procs TERM 1 none t.pid "$W3"
'

test_done
