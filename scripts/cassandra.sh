#!/usr/bin/env bash
# Fetch, start, stop, check and disturb a REAL Apache Cassandra (5.0.x, from Maven
# Central) for the integration and fault tests. Run `scripts/cassandra.sh help`.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/cassandra.sh COMMAND [ARGS]

Runs a real Apache Cassandra (org.apache.cassandra:cassandra-all from Maven Central)
on OpenJDK 17 for integration tests. Configuration comes from the environment.

Commands:
  fetch            resolve cassandra-all + runtime deps into $CASSANDRA_CACHE_DIR/lib (once)
  start            fetch if needed, write config, start every node, then `wait`
  wait             wait until every node serves CQL, sees the others UP and (auth) login works
  stop             SIGTERM every node (SIGKILL after 60s); idempotent
  status           per node: name, address, data center, pid, state (running, starting,
                   paused, stopped); exit 0 if all running, else 3
  env              print `export` lines for the Go tests (see CASSANDRA_ENV_PREFIX)
  logs [-f] [N]    tail system.log of every node (or node N); -f follows
  stop-node N      SIGTERM node N (1-based) and wait until it is gone; keeps its data
  kill-node N      SIGKILL node N (crash simulation); keeps its data
  start-node N     start node N again with its data; wait for it and for gossip UP
  pause-node N     SIGSTOP node N (an unresponsive node: its sockets stay open); idempotent
  resume-node N    SIGCONT node N, then wait until the running nodes see each other UP
  pause-dc DC      pause-node every node of data center DC
  resume-dc DC     resume-node every node of data center DC
  cql [-n N] [-c CL] [STMT...]
                   run CQL statements with the Go probe (scripts/cqlprobe, built on first
                   use; auth/TLS aware) and print the rows, columns separated by " | ";
                   default STMT: SELECT release_version FROM system.local. -n N: node N
                   alone coordinates; -c CL: consistency level [LOCAL_ONE]
  clean            stop, then delete the instance directory
  help, -h         this text

Environment (defaults in brackets):
  CASSANDRA_NAME           instance name [main]; state in $CASSANDRA_RUN_DIR/$CASSANDRA_NAME
  CASSANDRA_HOSTS          comma-separated IPs, one node per IP [127.0.0.1]
  CASSANDRA_DCS            data center of each node, aligned with CASSANDRA_HOSTS, as DC or
                           DC:RACK [rack1], e.g. dc1,dc1,dc2,dc2: GossipingPropertyFileSnitch
                           with a cassandra-rackdc.properties per node. Unset: SimpleSnitch,
                           one data center named datacenter1
  CASSANDRA_PORT           native (CQL) port on every IP [9042]
  CASSANDRA_STORAGE_PORT   internode (gossip) port on every IP [7000]
  CASSANDRA_AUTH=1         PasswordAuthenticator + CassandraAuthorizer (cassandra/cassandra)
  CASSANDRA_TLS=1          client TLS, mutual (client certificate required); PEM files in
                           $CASSANDRA_RUN_DIR/$CASSANDRA_NAME/tls/{ca,client,client-key}.pem
  CASSANDRA_HEAP           -Xms/-Xmx per node [512M]
  CASSANDRA_KEEP_DATA=1    `start` keeps the data directories of a previous run
  CASSANDRA_RUN_DIR        [/tmp/ipfs-cluster-scylla-cassandra]
  CASSANDRA_CACHE_DIR      jars, maven repo, probe [${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-cluster-scylla/cassandra-$CASSANDRA_VERSION]
  CASSANDRA_VERSION        [5.0.8]
  CASSANDRA_START_TIMEOUT  seconds per wait phase [180]
  CASSANDRA_STOP_TIMEOUT   seconds before SIGKILL [60]
  CASSANDRA_ENV_PREFIX     variable prefix for `env` [SCYLLASTATE_TEST]; with CASSANDRA_DCS,
                           `env` also prints ${PREFIX}_DCS (data centers aligned with _HOSTS)
  CASSANDRA_LOG_LINES      lines shown by `logs` [50]
  CASSANDRA_JAVA           java binary [/usr/lib/jvm/java-17-openjdk-amd64/bin/java]
  CASSANDRA_JVM_OPTS       extra JVM flags appended to every node (whitespace separated)
  GO                       go command that builds the CQL probe [go]

Commands other than `start` read HOSTS/DCS/PORT/AUTH/TLS/HEAP from the environment when
set, else from the settings recorded by the last `start` of that instance
($CASSANDRA_RUN_DIR/$CASSANDRA_NAME/instance.conf). `start` uses the recorded settings
only with CASSANDRA_KEEP_DATA=1.
EOF
}

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

TOOL=cassandra.sh
JAVA=${CASSANDRA_JAVA:-/usr/lib/jvm/java-17-openjdk-amd64/bin/java}
NAME=${CASSANDRA_NAME:-main}
RUN_DIR=${CASSANDRA_RUN_DIR:-/tmp/ipfs-cluster-scylla-cassandra}
VERSION=${CASSANDRA_VERSION:-5.0.8}
CACHE_DIR=${CASSANDRA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-cluster-scylla/cassandra-$VERSION}
LIB=$CACHE_DIR/lib
START_TIMEOUT=${CASSANDRA_START_TIMEOUT:-180}
STOP_TIMEOUT=${CASSANDRA_STOP_TIMEOUT:-60}
ENV_PREFIX=${CASSANDRA_ENV_PREFIX:-SCYLLASTATE_TEST}
KEEP_DATA=${CASSANDRA_KEEP_DATA:-0}
GO=${GO:-go}
DIR=$RUN_DIR/$NAME
TLS_DIR=$DIR/tls
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies

# Log lines we wait on (Cassandra 5.0).
CQL_LINE='Starting listening for CQL clients on'

HOSTS='' PORT='' STORAGE_PORT='' AUTH='' TLS='' HEAP='' DCS=''
IPS=()       # node i (1-based) listens on IPS[i-1]
NODE_DC=()   # its data center
NODE_RACK=() # its rack
TOKENS=()    # its initial token
N=0

# shellcheck source-path=SCRIPTDIR source=lib/instance.sh
. "$SCRIPT_DIR/lib/instance.sh"
# gen_tls: the test CA and certificates (CASSANDRA_TLS=1).
# shellcheck source-path=SCRIPTDIR source=cassandra/tls.sh
. "$SCRIPT_DIR/cassandra/tls.sh"
# prepare_probe, run_probe: the CQL probe.
# shellcheck source-path=SCRIPTDIR source=cassandra/probe.sh
. "$SCRIPT_DIR/cassandra/probe.sh"

check_common() {
	check_name CASSANDRA_NAME "$NAME"
	check_seconds CASSANDRA_START_TIMEOUT "$START_TIMEOUT"
	check_seconds CASSANDRA_STOP_TIMEOUT "$STOP_TIMEOUT"
}

# load_config MODE: MODE=start ignores the recorded instance.conf unless KEEP_DATA=1.
load_config() {
	RECORDED=()
	if [[ $1 != start || $KEEP_DATA == 1 ]]; then conf_load "$DIR/instance.conf"; fi
	HOSTS=$(setting CASSANDRA_HOSTS HOSTS 127.0.0.1)
	DCS=$(setting CASSANDRA_DCS DCS '')
	PORT=$(setting CASSANDRA_PORT PORT 9042)
	STORAGE_PORT=$(setting CASSANDRA_STORAGE_PORT STORAGE_PORT 7000)
	AUTH=$(setting CASSANDRA_AUTH AUTH 0)
	TLS=$(setting CASSANDRA_TLS TLS 0)
	HEAP=$(setting CASSANDRA_HEAP HEAP 512M)
	HOSTS=${HOSTS// /}
	DCS=${DCS// /}
	IFS=',' read -r -a IPS <<<"$HOSTS"
	N=${#IPS[@]}
	((N >= 1)) || die "CASSANDRA_HOSTS is empty"
	local ip
	for ip in "${IPS[@]}"; do
		[[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "CASSANDRA_HOSTS: '$ip' is not an IPv4 address"
	done
	check_port CASSANDRA_PORT "$PORT"
	check_port CASSANDRA_STORAGE_PORT "$STORAGE_PORT"
	[[ $PORT != "$STORAGE_PORT" ]] || die "CASSANDRA_PORT and CASSANDRA_STORAGE_PORT must differ"
	check_bool CASSANDRA_AUTH "$AUTH"
	check_bool CASSANDRA_TLS "$TLS"
	[[ $HEAP =~ ^[0-9]+[mMgG]$ ]] || die "CASSANDRA_HEAP must look like 512M or 1G (got '$HEAP')"
	load_topology
}

# load_topology: NODE_DC, NODE_RACK and TOKENS from DCS. Tokens are balanced per data
# center (as ccm does: the ring of each DC is even), offset by 100 per DC to stay unique.
load_topology() {
	local -a entries=()
	local -A dc_size=() dc_off=() dc_pos=()
	local i e dc t
	if [[ -n $DCS ]]; then
		IFS=',' read -r -a entries <<<"$DCS"
		((${#entries[@]} == N)) ||
			die "CASSANDRA_DCS has ${#entries[@]} entries for $N host(s) in CASSANDRA_HOSTS: give one data center per host"
	fi
	NODE_DC=() NODE_RACK=() TOKENS=()
	for ((i = 0; i < N; i++)); do
		e=${entries[i]:-datacenter1}
		[[ $e =~ ^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?$ ]] ||
			die "CASSANDRA_DCS: '$e' must be DC or DC:RACK (letters, digits, _ and -)"
		dc=${e%%:*}
		NODE_DC+=("$dc")
		NODE_RACK+=("$([[ $e == *:* ]] && echo "${e#*:}" || echo rack1)")
		[[ -n ${dc_off[$dc]:-} ]] || dc_off[$dc]=$((100 * ${#dc_off[@]}))
		dc_size[$dc]=$((${dc_size[$dc]:-0} + 1))
	done
	for ((i = 0; i < N; i++)); do
		dc=${NODE_DC[i]}
		dc_pos[$dc]=$((${dc_pos[$dc]:-0} + 1))
		t=$(token_for "${dc_pos[$dc]}" "${dc_size[$dc]}")
		TOKENS+=("$((t + ${dc_off[$dc]}))")
	done
}

# token_for I N: balanced Murmur3 token for node I of N (ccm: floor(i*2^64/N) - 2^63, i from 0).
token_for() {
	local i=$1 n=$2 max=9223372036854775807 q r k t
	if ((n == 1)); then
		echo 0
		return
	fi
	# 2^63 = q*n + r, computed without overflowing 64-bit bash arithmetic.
	q=$((max / n))
	r=$((max % n + 1))
	if ((r == n)); then
		q=$((q + 1))
		r=0
	fi
	k=$((2 * (i - 1) - n)) # token = floor(k * 2^63 / n)
	t=$((k * q + (k * r) / n))
	if ((k * r % n != 0 && k * r < 0)); then t=$((t - 1)); fi
	echo "$t"
}

node_dir() { printf '%s/node%s' "$DIR" "$1"; }
# node_word I: the argv word that tells node I's java from any other process.
node_word() { printf '@%s/conf/jvm.args' "$(node_dir "$1")"; }
# node_pid I: print the pid of node I if it runs (else nothing, removing a stale pid file).
node_pid() { pid_running "$(node_dir "$1")/pid" "$(node_word "$1")" || true; }
node_tail() { show_tail "node$1 (${IPS[$1 - 1]})" "$(node_dir "$1")"/logs/{system,stdout}.log; }

# node_arg N: print N if it is a node number, else die.
node_arg() {
	local i=${1:-}
	if ! [[ $i =~ ^[0-9]+$ ]] || ((i < 1 || i > N)); then die "node number must be 1..$N (got '$i')"; fi
	printf '%s\n' "$i"
}

# dc_nodes DC: print the numbers of the nodes of data center DC (die if none).
dc_nodes() {
	local i hit=0
	for ((i = 1; i <= N; i++)); do
		[[ ${NODE_DC[i - 1]} == "$1" ]] && printf '%s\n' "$i" && hit=1
	done
	((hit)) || die "no node in data center '${1:-}' (data centers: $(printf '%s\n' "${NODE_DC[@]}" | sort -u | xargs))"
}

# ---------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------
fetch_done() { [[ -f $LIB/.complete && $(cat "$LIB/.complete") == "$VERSION" ]]; }

cmd_fetch() {
	fetch_done && return 0
	command -v mvn >/dev/null 2>&1 || die "mvn (Maven) is required to fetch Cassandra"
	mkdir -p "$CACHE_DIR"
	# The locked part runs in a subshell so that the lock fd is not inherited by Cassandra.
	(
		if command -v flock >/dev/null 2>&1; then
			exec 9>"$CACHE_DIR/.fetch.lock"
			flock 9
		fi
		fetch_done && exit 0
		log "fetching org.apache.cassandra:cassandra-all:$VERSION and its runtime dependencies into $LIB"
		render "$SCRIPT_DIR/cassandra/pom.xml" VERSION >"$CACHE_DIR/pom.xml"
		rm -rf "$LIB.tmp"
		if ! JAVA_HOME=$(dirname "$(dirname "$JAVA")") mvn -B -q -Dstyle.color=never \
			-f "$CACHE_DIR/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" \
			"$DEPENDENCY_PLUGIN" -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" \
			>"$CACHE_DIR/fetch.log" 2>&1; then
			sed -e 's/\x1b\[[0-9;]*m//g' "$CACHE_DIR/fetch.log" | tail -n 80 >&2
			die "Maven failed to resolve cassandra-all:$VERSION (full log: $CACHE_DIR/fetch.log)"
		fi
		[[ -f $LIB.tmp/cassandra-all-$VERSION.jar ]] || die "Maven finished but $LIB.tmp/cassandra-all-$VERSION.jar is missing"
		compgen -G "$LIB.tmp/jamm-*.jar" >/dev/null || die "Maven finished but no jamm jar in $LIB.tmp"
		rm -rf "$LIB"
		mv "$LIB.tmp" "$LIB"
		printf '%s\n' "$VERSION" >"$LIB/.complete"
		log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars ($(du -sh "$LIB" | cut -f1))"
	)
}

# ---------------------------------------------------------------------------
# Config files
# ---------------------------------------------------------------------------
# render FILE VAR...: print FILE with each @VAR@ replaced by the value of shell variable VAR.
render() {
	local text v
	text=$(<"$1")
	shift
	for v in "$@"; do text=${text//"@$v@"/"${!v}"}; done
	printf '%s\n' "$text"
}

# write_node_conf I: node I's cassandra.yaml, cassandra-rackdc.properties, logback.xml, jvm.args.
# shellcheck disable=SC2034 # render reads I, IP, TOKEN, SNITCH, SEEDS through ${!v}
write_node_conf() {
	local I=$1 nd IP SEEDS='' TOKEN SNITCH=SimpleSnitch s
	nd=$(node_dir "$I")
	IP=${IPS[I - 1]}
	TOKEN=${TOKENS[I - 1]}
	for s in "${IPS[@]}"; do SEEDS+="${SEEDS:+,}$s:$STORAGE_PORT"; done
	[[ -z $DCS ]] || SNITCH=GossipingPropertyFileSnitch
	mkdir -p "$nd/conf/triggers" "$nd/logs" "$nd/storage"
	{
		render "$SCRIPT_DIR/cassandra/cassandra.yaml" NAME I TOKEN SNITCH SEEDS IP STORAGE_PORT PORT
		[[ $AUTH == 0 ]] || render "$SCRIPT_DIR/cassandra/cassandra-auth.yaml"
		[[ $TLS == 0 ]] || render "$SCRIPT_DIR/cassandra/cassandra-tls.yaml" TLS_DIR
	} >"$nd/conf/cassandra.yaml"
	# GossipingPropertyFileSnitch reads it from the classpath (the conf dir comes first).
	if [[ -n $DCS ]]; then
		printf 'dc=%s\nrack=%s\n' "${NODE_DC[I - 1]}" "${NODE_RACK[I - 1]}" >"$nd/conf/cassandra-rackdc.properties"
	else
		rm -f "$nd/conf/cassandra-rackdc.properties"
	fi
	cp "$SCRIPT_DIR/cassandra/logback.xml" "$nd/conf/logback.xml"

	{
		grep -v -e '^#' -e '^[[:space:]]*$' "$SCRIPT_DIR/cassandra/jvm-server.options"
		printf '%s\n' "-Xms$HEAP" "-Xmx$HEAP" "\"-XX:ErrorFile=$nd/logs/hs_err_%p.log\"" \
			"\"-javaagent:$(compgen -G "$LIB/jamm-*.jar" | head -n 1)\"" \
			"\"-Dcassandra.config=file://$nd/conf/cassandra.yaml\"" \
			"\"-Dcassandra.storagedir=$nd/storage\"" \
			"\"-Dcassandra.logdir=$nd/logs\"" \
			"\"-Dcassandra.triggers_dir=$nd/conf/triggers\"" \
			"\"-Dlogback.configurationFile=$nd/conf/logback.xml\""
		if [[ $AUTH == 1 ]] && ((N > 1)); then
			printf '%s\n' "-Dcassandra.system_auth.default_rf=$((N < 3 ? N : 3))"
		fi
		if [[ -n ${CASSANDRA_JVM_OPTS:-} ]]; then
			local -a extra
			read -r -a extra <<<"$CASSANDRA_JVM_OPTS"
			printf '%s\n' "${extra[@]}"
		fi
		printf '%s\n' -cp "\"$nd/conf:$LIB/*\"" org.apache.cassandra.service.CassandraDaemon
	} >"$nd/conf/jvm.args"
}

# ---------------------------------------------------------------------------
# Start / wait / stop
# ---------------------------------------------------------------------------

# launch_node I: start node I in the background (config must exist).
launch_node() {
	local i=$1 nd j pd f
	nd=$(node_dir "$i")
	[[ -f $nd/conf/jvm.args ]] || die "node$i has no config; run start first"
	mkdir -p "$nd/logs"
	for f in system.log stdout.log; do
		[[ -f $nd/logs/$f ]] && mv -f "$nd/logs/$f" "$nd/logs/$f.1"
	done
	rm -f "$nd/logs"/upmark.*
	# Peers must log this node as UP *after* this point (byte offset in their system.log).
	for ((j = 1; j <= N; j++)); do
		((j == i)) && continue
		pd=$(node_dir "$j")
		if [[ -f $pd/logs/system.log ]]; then
			wc -c <"$pd/logs/system.log" | tr -d ' ' >"$pd/logs/upmark.$i"
		else
			echo 0 >"$pd/logs/upmark.$i"
		fi
	done
	spawn "$nd/pid" "$(node_word "$i")" "$nd/logs/stdout.log" "$nd" "$JAVA" "$(node_word "$i")" || true
	log "node$i ${IPS[i - 1]} (${NODE_DC[i - 1]}): started pid $(cat "$nd/pid" 2>/dev/null || echo '(exited at once)')"
}

# cql_ready I: node I logged the CQL line (current log) and the port accepts connections.
cql_ready() {
	local i=$1 nd ip want
	nd=$(node_dir "$i")
	ip=${IPS[i - 1]}
	want="$CQL_LINE /$ip:$PORT ("
	if [[ $TLS == 1 ]]; then want+='encrypted)'; else want+='unencrypted)'; fi
	[[ -f $nd/logs/system.log ]] || return 1
	grep -qF -- "$want" "$nd/logs/system.log" || return 1
	tcp_open "$ip" "$PORT"
}

# sees_up I J: node I's latest gossip verdict on node J (since J's last start) is UP.
sees_up() {
	local i=$1 j=$2 nd ipj off=0 last
	nd=$(node_dir "$i")
	ipj=${IPS[j - 1]}
	[[ -f $nd/logs/upmark.$j ]] && off=$(cat "$nd/logs/upmark.$j")
	[[ -f $nd/logs/system.log ]] || return 1
	last=$(tail -c +"$((off + 1))" "$nd/logs/system.log" |
		grep -F -e "InetAddress /$ipj:$STORAGE_PORT is now UP" -e "InetAddress /$ipj:$STORAGE_PORT is now DOWN" |
		tail -n 1 || true)
	[[ $last == *"is now UP"* ]]
}

# check_dead I...: fail with the log tail if one of the nodes died.
check_dead() {
	local i
	for i in "$@"; do
		if [[ -z $(node_pid "$i") ]]; then
			log "node$i (${IPS[i - 1]}) is not running (died during startup?)"
			node_tail "$i"
			return 1
		fi
	done
}

# wait_cql DEADLINE I...: wait until the nodes serve CQL.
wait_cql() {
	local deadline=$1 i t0=$SECONDS
	shift
	local -a pending=("$@") still
	while ((${#pending[@]} > 0)); do
		check_dead "${pending[@]}" || return 1
		still=()
		for i in "${pending[@]}"; do
			if cql_ready "$i"; then
				log "node$i ${IPS[i - 1]}:$PORT serves CQL (after $((SECONDS - t0))s)"
			else
				still+=("$i")
			fi
		done
		pending=("${still[@]}")
		((${#pending[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			log "timeout waiting for CQL on node(s) ${pending[*]}"
			for i in "${pending[@]}"; do node_tail "$i"; done
			return 1
		fi
		sleep 1
	done
}

# active_nodes: print the nodes that run and are not paused.
active_nodes() {
	local i pid
	for ((i = 1; i <= N; i++)); do
		pid=$(node_pid "$i")
		[[ -n $pid ]] && ! proc_paused "$pid" && printf '%s\n' "$i"
	done
	return 0
}

# wait_gossip DEADLINE: every active node sees every other active node UP.
wait_gossip() {
	local deadline=$1 i j missing t0=$SECONDS
	((N > 1)) || return 0
	local -a run
	mapfile -t run < <(active_nodes)
	((${#run[@]} > 1)) || return 0
	while :; do
		check_dead "${run[@]}" || return 1
		missing=''
		for i in "${run[@]}"; do
			for j in "${run[@]}"; do
				((i == j)) || sees_up "$i" "$j" || missing+=" node$i->node$j"
			done
		done
		if [[ -z $missing ]]; then
			log "gossip: nodes ${run[*]} all see each other UP (after $((SECONDS - t0))s)"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			log "timeout waiting for gossip UP:$missing"
			for i in "${run[@]}"; do node_tail "$i"; done
			return 1
		fi
		sleep 1
	done
}

# wait_auth DEADLINE: cassandra/cassandra can log in (the default superuser exists).
wait_auth() {
	local deadline=$1 t0=$SECONDS out=''
	local -a run=()
	[[ $AUTH == 1 ]] || return 0
	prepare_probe || die "CASSANDRA_AUTH=1 needs the CQL probe to check the login (see above)"
	while ! out=$(run_probe -login -timeout 10s 2>&1); do
		mapfile -t run < <(active_nodes)
		check_dead "${run[@]}" || return 1
		if ((SECONDS >= deadline)); then
			log "timeout waiting for login as cassandra/cassandra: $out"
			return 1
		fi
		sleep 2
	done
	log "$out (after $((SECONDS - t0))s)"
}

# stop_nodes SIGNAL I...: signal the nodes, wait (SIGTERM: up to STOP_TIMEOUT, then SIGKILL),
# then until their ports are free.
stop_nodes() {
	local sig=$1 i deadline
	shift
	local -a items=() had=()
	for i in "$@"; do
		pid_adopt "node$i" "$(node_dir "$i")/pid" "$(node_word "$i")"
		[[ -n $(node_pid "$i") ]] && had+=("$i")
		items+=("node$i" "$(node_dir "$i")/pid" "$(node_word "$i")")
	done
	stop_procs "$sig" "$STOP_TIMEOUT" "${items[@]}"
	# A killed JVM can keep its listening sockets for a moment (until it is reaped).
	deadline=$((SECONDS + 15))
	for i in "${had[@]}"; do
		((i <= N)) || continue
		while { tcp_open "${IPS[i - 1]}" "$PORT" || tcp_open "${IPS[i - 1]}" "$STORAGE_PORT"; } && ((SECONDS < deadline)); do
			sleep 0.5
		done
	done
}

all_nodes() { seq 1 "$N"; }

stop_all() {
	local -a all
	mapfile -t all < <(all_nodes)
	stop_nodes TERM "${all[@]}"
}

fail_start() {
	log "startup FAILED; stopping what was started"
	stop_all
	exit 1
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
check_java() {
	[[ -x $JAVA ]] || die "java not found at $JAVA (set CASSANDRA_JAVA)"
	local v
	v=$("$JAVA" -version 2>&1 | head -n 1)
	[[ $v == *'"17.'* || $v == *'"11.'* ]] || die "Cassandra 5.0 needs Java 11 or 17; $JAVA is: $v"
}

cmd_start() {
	load_config start
	local i ip p t0=$SECONDS deadline old
	local -a running=() rest=()
	for ((i = 1; i <= N; i++)); do
		pid_adopt "node$i" "$(node_dir "$i")/pid" "$(node_word "$i")"
		[[ -n $(node_pid "$i") ]] && running+=("$i")
	done
	((${#running[@]} == 0)) ||
		die "instance '$NAME' is already running (node(s) ${running[*]}; see '$0 status'); run '$0 stop' first"
	for ip in "${IPS[@]}"; do
		for p in "$PORT" "$STORAGE_PORT"; do
			tcp_open "$ip" "$p" && die "$ip:$p is already in use (another Cassandra instance or a leftover process?)"
		done
	done
	check_java
	cmd_fetch
	if [[ $KEEP_DATA == 1 ]]; then
		old=${RECORDED[HOSTS]:-$HOSTS}
		[[ $old == "$HOSTS" ]] || log "WARNING: CASSANDRA_KEEP_DATA=1 but hosts changed ($old -> $HOSTS)"
		old=${RECORDED[DCS]:-}
		[[ $old == "$DCS" ]] || log "WARNING: CASSANDRA_KEEP_DATA=1 but data centers changed ('$old' -> '$DCS'): startup checks may refuse the data"
	fi
	mkdir -p "$DIR"
	conf_save "$DIR/instance.conf" HOSTS PORT STORAGE_PORT AUTH TLS HEAP VERSION DCS
	[[ $TLS == 1 ]] && gen_tls
	[[ $KEEP_DATA == 1 ]] || rm -f "$DIR/auth.ready"
	for ((i = 1; i <= N; i++)); do
		[[ $KEEP_DATA == 1 ]] || rm -rf "$(node_dir "$i")/storage"
		write_node_conf "$i"
	done

	trap 'log "interrupted: stopping"; stop_all; exit 130' INT TERM
	log "starting Cassandra $VERSION: $N node(s) on $HOSTS${DCS:+ (data centers $DCS)} port $PORT heap $HEAP$([[ $AUTH == 1 ]] && echo ' auth')$([[ $TLS == 1 ]] && echo ' tls') (dir $DIR)"
	launch_node 1
	wait_cql $((SECONDS + START_TIMEOUT)) 1 || fail_start
	deadline=$((SECONDS + START_TIMEOUT))
	if ((N > 1)); then
		for ((i = 2; i <= N; i++)); do
			launch_node "$i"
			rest+=("$i")
		done
		wait_cql "$deadline" "${rest[@]}" || fail_start
	fi
	{ wait_gossip "$deadline" && wait_auth "$deadline"; } || fail_start
	trap - INT TERM
	log "ready in $((SECONDS - t0))s: hosts $HOSTS port $PORT"
}

cmd_wait() {
	load_config other
	local i
	local -a all=()
	for ((i = 1; i <= N; i++)); do
		[[ -n $(node_pid "$i") ]] ||
			die "node$i (${IPS[i - 1]}) is not running (start it with '$0 start-node $i'; see '$0 logs $i')"
		all+=("$i")
	done
	local deadline=$((SECONDS + START_TIMEOUT))
	{ wait_cql "$deadline" "${all[@]}" && wait_gossip "$deadline" && wait_auth "$deadline"; } || exit 1
	log "ready: hosts $HOSTS port $PORT"
}

cmd_stop() {
	load_config other
	local d i
	local -a nodes=()
	# Stop every node that has a directory, even if the recorded host list changed.
	for d in "$DIR"/node*; do
		[[ -d $d ]] || continue
		i=${d##*/node}
		[[ $i =~ ^[0-9]+$ ]] && nodes+=("$i")
	done
	((${#nodes[@]} == 0)) || stop_nodes TERM "${nodes[@]}"
	log "stopped"
}

cmd_stop_node() {
	load_config other
	local i
	i=$(node_arg "${1:-}")
	stop_nodes TERM "$i"
	log "node$i stopped (data kept)"
}

cmd_kill_node() {
	load_config other
	local i
	i=$(node_arg "${1:-}")
	if [[ -n $(node_pid "$i") ]]; then
		stop_nodes KILL "$i"
		log "node$i killed (SIGKILL, data kept)"
	else
		log "node$i is not running"
	fi
}

cmd_start_node() {
	load_config other
	local i t0=$SECONDS deadline
	i=$(node_arg "${1:-}")
	[[ -z $(node_pid "$i") ]] || die "node$i is already running"
	tcp_open "${IPS[i - 1]}" "$PORT" && die "${IPS[i - 1]}:$PORT is already in use"
	check_java
	launch_node "$i"
	deadline=$((SECONDS + START_TIMEOUT))
	if ! { wait_cql "$deadline" "$i" && wait_gossip "$deadline" && wait_auth "$deadline"; }; then
		log "node$i failed to come back"
		exit 1
	fi
	log "node$i ready in $((SECONDS - t0))s"
}

# signal_nodes STOP|CONT I...: pause or resume the nodes' java; idempotent, a
# node that does not run is reported and skipped.
signal_nodes() {
	local sig=$1 verb=pause state=paused i pid k
	shift
	[[ $sig == CONT ]] && verb=resume state=resumed
	for i in "$@"; do
		pid=$(node_pid "$i")
		if [[ -z $pid ]]; then
			log "node$i (${IPS[i - 1]}) is not running: nothing to $verb"
			continue
		fi
		if { [[ $sig == STOP ]] && proc_paused "$pid"; } || { [[ $sig == CONT ]] && ! proc_paused "$pid"; }; then
			log "node$i is $([[ $sig == STOP ]] && echo 'paused already' || echo 'not paused')"
			continue
		fi
		kill "-$sig" "$pid"
		# Wait (5 s at most) until /proc shows the new state.
		for ((k = 0; k < 50; k++)); do
			if proc_paused "$pid"; then [[ $sig == STOP ]] && break; else [[ $sig == CONT ]] && break; fi
			sleep 0.1
		done
		log "node$i ${IPS[i - 1]} (${NODE_DC[i - 1]}): $state (SIG$sig pid $pid)"
	done
}

# resume_nodes I...: resume the nodes, then wait until the active nodes see each other UP.
resume_nodes() {
	local t0=$SECONDS
	signal_nodes CONT "$@"
	wait_gossip $((SECONDS + START_TIMEOUT)) || exit 1
	log "resumed in $((SECONDS - t0))s"
}

cmd_pause_node() {
	load_config other
	local i
	i=$(node_arg "${1:-}")
	signal_nodes STOP "$i"
}

cmd_resume_node() {
	load_config other
	local i
	i=$(node_arg "${1:-}")
	resume_nodes "$i"
}

cmd_pause_dc() {
	load_config other
	local -a nodes
	mapfile -t nodes < <(dc_nodes "${1:-}")
	((${#nodes[@]} > 0)) || exit 1
	signal_nodes STOP "${nodes[@]}"
}

cmd_resume_dc() {
	load_config other
	local -a nodes
	mapfile -t nodes < <(dc_nodes "${1:-}")
	((${#nodes[@]} > 0)) || exit 1
	resume_nodes "${nodes[@]}"
}

cmd_status() {
	load_config other
	local i pid state rc=0
	for ((i = 1; i <= N; i++)); do
		pid_adopt "node$i" "$(node_dir "$i")/pid" "$(node_word "$i")"
		pid=$(node_pid "$i")
		if [[ -z $pid ]]; then
			state=stopped
		elif proc_paused "$pid"; then
			state=paused
		elif cql_ready "$i"; then
			state=running
		else
			state=starting
		fi
		[[ $state == running ]] || rc=3
		printf '%s node%s %s:%s dc=%s pid=%s %s\n' "$NAME" "$i" "${IPS[i - 1]}" "$PORT" "${NODE_DC[i - 1]}" "${pid:--}" "$state"
	done
	return "$rc"
}

cmd_env() {
	load_config other
	[[ $ENV_PREFIX =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "CASSANDRA_ENV_PREFIX must be a shell variable name"
	export_line "${ENV_PREFIX}_HOSTS" "$HOSTS"
	export_line "${ENV_PREFIX}_PORT" "$PORT"
	if [[ -n $DCS ]]; then
		export_line "${ENV_PREFIX}_DCS" "$(
			IFS=,
			printf '%s' "${NODE_DC[*]}"
		)"
	fi
	if [[ $AUTH == 1 ]]; then
		export_line "${ENV_PREFIX}_USERNAME" cassandra
		export_line "${ENV_PREFIX}_PASSWORD" cassandra
	fi
	if [[ $TLS == 1 ]]; then
		export_line "${ENV_PREFIX}_TLS_CA" "$TLS_DIR/ca.pem"
		export_line "${ENV_PREFIX}_TLS_CERT" "$TLS_DIR/client.pem"
		export_line "${ENV_PREFIX}_TLS_KEY" "$TLS_DIR/client-key.pem"
	fi
}

cmd_logs() {
	load_config other
	local follow=0 only='' i f
	local -a files=()
	while (($# > 0)); do
		case $1 in
		-f) follow=1 ;;
		*) only=$(node_arg "$1") ;;
		esac
		shift
	done
	for ((i = 1; i <= N; i++)); do
		f=$(node_dir "$i")/logs/system.log
		[[ (-z $only || $i == "$only") && -f $f ]] && files+=("$f")
	done
	((${#files[@]} > 0)) || die "no logs in $DIR"
	tail_logs "${CASSANDRA_LOG_LINES:-50}" "$follow" "${files[@]}"
}

cmd_cql() {
	load_config other
	local i
	local -a opts=()
	while (($# > 0)); do
		case $1 in
		-n)
			i=$(node_arg "${2:-}")
			opts+=(-hosts "${IPS[i - 1]}")
			shift 2
			;;
		-c)
			[[ -n ${2:-} ]] || die "cql -c needs a consistency level (e.g. LOCAL_QUORUM)"
			opts+=(-consistency "$2")
			shift 2
			;;
		--)
			shift
			break
			;;
		*) break ;;
		esac
	done
	run_probe "${opts[@]}" -- "$@"
}

cmd_clean() {
	cmd_stop
	[[ -n $DIR && $DIR != / && -d $DIR ]] && rm -rf "$DIR"
	log "removed $DIR"
}

instance_main "$@"
