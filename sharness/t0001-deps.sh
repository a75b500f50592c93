#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="scripts/deps.sh (make deps, the checks before make test and make demo)"

. "$(dirname "$0")/lib/test-lib.sh"

DEPS=$REPO_ROOT/scripts/deps.sh

# as_user CMD...: run CMD as an unprivileged user (nobody when we are root)
as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$@"
	else
		"$@"
	fi
}
command -v setpriv >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ] && test_set_prereq AS_USER

test_expect_success 'deps.sh check passes here and names Go and Java 17' '
	"$DEPS" check 2>check.err &&
	grep -q "ok: Debian packages, Go go[0-9.]* (go.mod: [0-9.]*), OpenJDK 17" check.err
'

test_expect_success AS_USER 'without root, a missing package gives the one sudo apt-get line and exit 1' '
	test_expect_code 1 as_user env CASSANDRA_JAVA=/nonexistent/bin/java "$DEPS" install >install.out 2>install.err &&
	echo "sudo apt-get install -y --no-install-recommends openjdk-17-jdk-headless" >expected &&
	test_cmp expected install.out &&
	grep -q "missing Debian packages: openjdk-17-jdk-headless" install.err
'

test_expect_success 'a Go older than the go.mod is refused, naming both versions' '
	mkdir -p oldgo && printf "#!/bin/sh\necho go1.20.3\n" >oldgo/go && chmod +x oldgo/go &&
	test_expect_code 1 env PATH="$PWD/oldgo:$PATH" "$DEPS" check 2>oldgo.err &&
	grep -q "Go 1.20.3 is older than the go.mod.s $(sed -n "s/^go //p" "$REPO_ROOT/go.mod")" oldgo.err
'

test_expect_success 'a Java other than 17 is refused' '
	mkdir -p jdk/bin && printf "#!/bin/sh\necho \"openjdk version \\\\\"21.0.1\\\\\" 2023-10-17\" >&2\n" >jdk/bin/java &&
	cp jdk/bin/java jdk/bin/javac && chmod +x jdk/bin/java jdk/bin/javac &&
	jdk/bin/java -version 2>&1 | grep -q "\"21.0.1\"" &&
	test_expect_code 1 env CASSANDRA_JAVA="$PWD/jdk/bin/java" "$DEPS" check 2>java.err &&
	grep -q "missing Debian packages: openjdk-17-jdk-headless" java.err
'

test_expect_success 'built fails at once when kubo is not built' '
	mkdir empty &&
	test_expect_code 1 env DEPS_BIN_DIR="$PWD/empty" "$DEPS" built 2>built.err &&
	grep -q "kubo is not built ($PWD/empty/ipfs): run make kubo" built.err
'

test_expect_success 'built passes with the binaries of make build and make kubo' '
	"$DEPS" built 2>built-ok.err &&
	grep -q "ok: ipfs version [0-9.]*, ipfs-cluster-service version" built-ok.err
'

# A listener on the secure instance's CQL port that is not scripts/cassandra.sh's. HOME: the
# Cassandra jars are cached in the real one.
test_expect_success 'preflight fails fast when a database port is taken by something else' '
	if CASSANDRA_NAME=secure "$REPO_ROOT/scripts/cassandra.sh" status >/dev/null 2>&1; then
		echo "the secure test instance runs: the port is ours, preflight accepts it" &&
		HOME=$TEST_ORIG_HOME "$DEPS" preflight test 2>preflight.err
	else
		perl -MIO::Socket::INET -e "my \$s = IO::Socket::INET->new(LocalAddr => q(127.0.0.2), LocalPort => 9042, Listen => 1, ReuseAddr => 1) or die \$!; print qq(up\n); STDOUT->flush; sleep 120" >listener.out &
		LPID=$! &&
		test_wait_for 10 grep -q up listener.out &&
		{ test_expect_code 1 env HOME="$TEST_ORIG_HOME" WITH_SECURE=1 "$DEPS" preflight test 2>preflight.err; rc=$?; kill "$LPID"; wait "$LPID" 2>/dev/null; test $rc -eq 0; } &&
		grep -q "127.0.0.2:9042 is in use, but not by the test database .secure. of scripts/cassandra.sh" preflight.err
	fi
'

test_expect_success 'preflight passes when the ports are free or ours' '
	HOME=$TEST_ORIG_HOME "$DEPS" preflight demo 2>preflight-ok.err &&
	grep -q "ok: ready for make demo" preflight-ok.err
'

test_expect_success 'shellcheck is clean on deps.sh' '
	shellcheck -x "$DEPS"
'

test_done
