#!/usr/bin/env bash
# What `make demo` and `make test` need on this machine, checked and installed.
#
#   scripts/deps.sh install     install the missing Debian packages (as root; otherwise print
#                               the one `sudo apt-get install ...` line and fail), then check
#                               Go (>= go.mod's) and OpenJDK 17            (`make deps`)
#   scripts/deps.sh check       the same checks, installing nothing
#   scripts/deps.sh preflight [test|demo]
#                               before the long part of `make test` (or `make demo`): the
#                               above, sharness present, the database ports free or ours,
#                               disk space, Cassandra's jars cached or fetched now
#   scripts/deps.sh built       kubo and the cluster binaries are built (bin/) and run
#
# Environment: CASSANDRA_JAVA (the java of scripts/cassandra.sh), DEPS_MIN_FREE_MB [2048],
# DEPS_BIN_DIR [<repo>/bin] (where make build and make kubo put the binaries).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${DEPS_BIN_DIR:-$repo/bin}

log() { printf 'deps.sh: %s\n' "$*" >&2; }
fail() {
	log "ERROR: $*"
	exit 1
}

# The Debian packages: what .ci/run installed, plus shellcheck, prometheus (promtool) and
# docker-compose (validates docker/docker-compose.yml; no container engine is needed).
# Each line: package, then the command or file that tells it is there.
packages() {
	cat <<'EOF'
make command:make
git command:git
openssl command:openssl
maven command:mvn
procps command:ps
curl command:curl
jq command:jq
sharness file:/usr/share/sharness/sharness.sh
openjdk-17-jdk-headless java17
shellcheck command:shellcheck
prometheus command:promtool
docker-compose command:docker-compose
bsdutils command:script
coreutils command:timeout
EOF
}

# java17: the java (and javac) of scripts/cassandra.sh, version 17.
java17_path() {
	local arch=amd64
	command -v dpkg >/dev/null 2>&1 && arch=$(dpkg --print-architecture)
	printf '%s\n' "${CASSANDRA_JAVA:-/usr/lib/jvm/java-17-openjdk-$arch/bin/java}"
}
java17() {
	local java
	java=$(java17_path)
	[[ -x $java && -x $(dirname "$java")/javac ]] || return 1
	"$java" -version 2>&1 | head -n 1 | grep -qE '"17[."]'
}

present() {
	case $1 in
	command:*) command -v "${1#command:}" >/dev/null 2>&1 ;;
	file:*) [[ -e ${1#file:} ]] ;;
	java17) java17 ;;
	*) return 1 ;;
	esac
}

# missing_packages: the packages whose command or file is absent, one per line.
missing_packages() {
	local pkg probe
	while read -r pkg probe; do
		present "$probe" || printf '%s\n' "$pkg"
	done < <(packages)
}

install_packages() {
	local -a need
	mapfile -t need < <(missing_packages)
	((${#need[@]} > 0)) || return 0
	command -v apt-get >/dev/null 2>&1 ||
		fail "missing: ${need[*]}; this is not a Debian-like system (no apt-get): install their equivalents"
	if [[ $(id -u) -ne 0 ]]; then
		log "missing Debian packages: ${need[*]}. Install them with:"
		printf 'sudo apt-get install -y --no-install-recommends %s\n' "${need[*]}"
		exit 1
	fi
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${need[@]}"
	mapfile -t need < <(missing_packages)
	((${#need[@]} == 0)) || fail "still missing after apt-get install: ${need[*]}"
}

check_packages() {
	local -a need
	mapfile -t need < <(missing_packages)
	((${#need[@]} == 0)) ||
		fail "missing Debian packages: ${need[*]} (make deps installs them; or: sudo apt-get install -y --no-install-recommends ${need[*]})"
}

# version_ge A B: dotted version A >= B.
version_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1) == "$2" ]]; }

check_go() {
	local want have
	want=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' "$repo/go.mod" | head -n 1)
	[[ -n $want ]] || fail "no go directive in $repo/go.mod"
	command -v go >/dev/null 2>&1 ||
		fail "Go is not installed: install Go $want or newer from https://go.dev/dl/ (Debian's golang package is older)"
	have=$(go env GOVERSION)
	have=${have#go}
	have=${have%%[!0-9.]*}
	version_ge "$have" "$want" ||
		fail "Go $have is older than the go.mod's $want: install Go $want or newer from https://go.dev/dl/"
}

check_java() {
	java17 || fail "OpenJDK 17 (java and javac) not found at $(java17_path): install openjdk-17-jdk-headless, or set CASSANDRA_JAVA to a Java 17 binary"
}

check_all() {
	check_packages
	check_go
	check_java
	log "ok: Debian packages, Go $(go env GOVERSION) (go.mod: $(sed -n 's/^go //p' "$repo/go.mod")), OpenJDK 17 ($(java17_path))"
}

# port_free_or_ours NAME IP: the CQL and storage ports of instance NAME on IP are free, or
# served by that instance of scripts/cassandra.sh (which the tests reuse).
port_free_or_ours() {
	local name=$1 ip=$2 port
	if CASSANDRA_NAME=$name "$repo/scripts/cassandra.sh" status >/dev/null 2>&1; then
		return 0
	fi
	for port in 9042 7000; do
		# shellcheck disable=SC2016 # $1/$2 expand in the child bash, on purpose
		if timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$ip" "$port" 2>/dev/null; then
			fail "$ip:$port is in use, but not by the test database '$name' of scripts/cassandra.sh:" \
				"stop what listens there (ss -ltnp 'sport = :$port') before make test"
		fi
	done
}

check_free_space() {
	local dir=$1 min=${DEPS_MIN_FREE_MB:-2048} free
	mkdir -p "$dir"
	free=$(df -Pm "$dir" | awk 'NR == 2 { print $4 }')
	[[ $free =~ ^[0-9]+$ ]] || return 0
	((free >= min)) || fail "$dir has $free MB free; the tests need about $min MB (Cassandra data, kubo repos, logs)"
}

preflight() {
	local what=${1:-test}
	check_all
	[[ -f /usr/share/sharness/sharness.sh && -f /usr/share/doc/sharness/contrib/aggregate-results.sh ]] ||
		fail "Debian's sharness is incomplete (/usr/share/sharness/sharness.sh, contrib/aggregate-results.sh): apt-get install --reinstall sharness"
	port_free_or_ours main 127.0.0.1
	if [[ $what == test && ${WITH_SECURE:-1} != 0 ]]; then
		port_free_or_ours secure 127.0.0.2
	fi
	check_free_space "${TMPDIR:-/tmp}"
	log "Cassandra's jars: cached, or fetched now from Maven Central (about 100 MB, once)"
	"$repo/scripts/cassandra.sh" fetch ||
		fail "Cassandra's jars could not be fetched from Maven Central (see above): check the network or a Maven proxy (~/.m2/settings.xml)"
	log "ok: ready for make $what"
}

# built: kubo and the cluster binaries are in $bin and run.
built() {
	if ! [[ -x $bin/ipfs ]] || ! "$bin/ipfs" version >/dev/null 2>&1; then
		fail "kubo is not built ($bin/ipfs): run make kubo"
	fi
	local b
	for b in ipfs-cluster-service ipfs-cluster-ctl; do
		if ! [[ -x $bin/$b ]] || ! "$bin/$b" --version >/dev/null 2>&1; then
			fail "$bin/$b is not built: run make build"
		fi
	done
	log "ok: $("$bin/ipfs" version), $("$bin/ipfs-cluster-service" --version), $("$bin/ipfs-cluster-ctl" --version) in $bin"
}

case ${1:-install} in
install)
	install_packages
	check_all
	;;
check) check_all ;;
preflight) preflight "${2:-test}" ;;
built) built ;;
-h | --help | help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
*) fail "unknown command '$1' (install, check, preflight [test|demo], built, help)" ;;
esac
