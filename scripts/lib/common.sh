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
