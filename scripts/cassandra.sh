#!/usr/bin/env bash
# Fetch, start, stop and check a REAL Apache Cassandra (5.0.x, from Maven Central)
# for the integration tests. Run `scripts/cassandra.sh help` for the interface.
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
  status           per node: name, address, pid, state; exit 0 if all running, else 3
  env              print `export` lines for the Go tests (see CASSANDRA_ENV_PREFIX)
  logs [-f] [N]    tail system.log of every node (or node N); -f follows
  stop-node N      SIGTERM node N (1-based) and wait until it is gone; keeps its data
  kill-node N      SIGKILL node N (crash simulation); keeps its data
  start-node N     start node N again with its data; wait for it and for gossip UP
  cql [STMT...]    run CQL statements with the bundled Java probe (auth/TLS aware)
  clean            stop, then delete the instance directory
  help, -h         this text

Environment (defaults in brackets):
  CASSANDRA_NAME           instance name [main]; state in $CASSANDRA_RUN_DIR/$CASSANDRA_NAME
  CASSANDRA_HOSTS          comma-separated IPs, one node per IP [127.0.0.1]
  CASSANDRA_PORT           native (CQL) port on every IP [9042]
  CASSANDRA_STORAGE_PORT   internode (gossip) port on every IP [7000]
  CASSANDRA_AUTH=1         PasswordAuthenticator + CassandraAuthorizer (cassandra/cassandra)
  CASSANDRA_TLS=1          client TLS, mutual (client certificate required); PEM files in
                           $CASSANDRA_RUN_DIR/$CASSANDRA_NAME/tls/{ca,client,client-key}.pem
  CASSANDRA_HEAP           -Xms/-Xmx per node [512M]
  CASSANDRA_KEEP_DATA=1    `start` keeps the data directories of a previous run
  CASSANDRA_RUN_DIR        [/tmp/ipfs-cluster-scylla-cassandra]
  CASSANDRA_CACHE_DIR      jars + maven repo [${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-cluster-scylla/cassandra-$CASSANDRA_VERSION]
  CASSANDRA_VERSION        [5.0.8]
  CASSANDRA_START_TIMEOUT  seconds per wait phase [180]
  CASSANDRA_STOP_TIMEOUT   seconds before SIGKILL [60]
  CASSANDRA_ENV_PREFIX     variable prefix for `env` [SCYLLASTATE_TEST]
  CASSANDRA_JAVA           java binary [/usr/lib/jvm/java-17-openjdk-amd64/bin/java]
  CASSANDRA_JVM_OPTS       extra JVM flags appended to every node (whitespace separated)

Commands other than `start` read HOSTS/PORT/AUTH/TLS/HEAP from the environment when set,
else from the settings recorded by the last `start` of that instance
($CASSANDRA_RUN_DIR/$CASSANDRA_NAME/instance.conf). `start` uses the recorded settings
only with CASSANDRA_KEEP_DATA=1.
EOF
}

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROBE_SRC=$SCRIPT_DIR/cassandra/CqlProbe.java

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
STORAGE_PORT=''
DIR=$RUN_DIR/$NAME
TLS_DIR=$DIR/tls
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies

# Log lines we wait on (Cassandra 5.0).
CQL_LINE='Starting listening for CQL clients on'
SUPERUSER_LINE='Created default superuser role'

HOSTS='' PORT='' AUTH='' TLS='' HEAP=''
IPS=()
N=0

log() { printf 'cassandra.sh[%s]: %s\n' "$NAME" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# load_config MODE: MODE=start ignores the recorded instance.conf unless KEEP_DATA=1.
load_config() {
	local mode=$1 k v
	local s_hosts='' s_port='' s_sport='' s_auth='' s_tls='' s_heap=''
	if [[ -f $DIR/instance.conf && ($mode != start || $KEEP_DATA == 1) ]]; then
		while IFS='=' read -r k v; do
			case $k in
			HOSTS) s_hosts=$v ;;
			PORT) s_port=$v ;;
			STORAGE_PORT) s_sport=$v ;;
			AUTH) s_auth=$v ;;
			TLS) s_tls=$v ;;
			HEAP) s_heap=$v ;;
			esac
		done <"$DIR/instance.conf"
	fi
	HOSTS=${CASSANDRA_HOSTS:-${s_hosts:-127.0.0.1}}
	PORT=${CASSANDRA_PORT:-${s_port:-9042}}
	STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-${s_sport:-7000}}
	AUTH=${CASSANDRA_AUTH:-${s_auth:-0}}
	TLS=${CASSANDRA_TLS:-${s_tls:-0}}
	HEAP=${CASSANDRA_HEAP:-${s_heap:-512M}}
	HOSTS=${HOSTS// /}
	IFS=',' read -r -a IPS <<<"$HOSTS"
	N=${#IPS[@]}
	((N >= 1)) || die "CASSANDRA_HOSTS is empty"
	local ip
	for ip in "${IPS[@]}"; do
		[[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "CASSANDRA_HOSTS: '$ip' is not an IPv4 address"
	done
	[[ $PORT =~ ^[0-9]+$ ]] || die "CASSANDRA_PORT must be a number"
	[[ $STORAGE_PORT =~ ^[0-9]+$ ]] || die "CASSANDRA_STORAGE_PORT must be a number"
	[[ $PORT != "$STORAGE_PORT" ]] || die "CASSANDRA_PORT and CASSANDRA_STORAGE_PORT must differ"
	[[ $AUTH == 0 || $AUTH == 1 ]] || die "CASSANDRA_AUTH must be 0 or 1"
	[[ $TLS == 0 || $TLS == 1 ]] || die "CASSANDRA_TLS must be 0 or 1"
	[[ $HEAP =~ ^[0-9]+[mMgG]$ ]] || die "CASSANDRA_HEAP must look like 512M or 1G"
}

check_common() {
	[[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "CASSANDRA_NAME must match [A-Za-z0-9][A-Za-z0-9._-]*"
	[[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "CASSANDRA_START_TIMEOUT must be a number of seconds"
	[[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "CASSANDRA_STOP_TIMEOUT must be a number of seconds"
}

node_dir() { printf '%s/node%s' "$DIR" "$1"; }

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

# pid_alive PID NODEDIR: the pid runs (not a zombie) and is our java for that node.
pid_alive() { proc_is "$1" "@$2/conf/jvm.args"; }

# node_pid I: print the pid of node I if it runs (else nothing, removing a stale pid file).
node_pid() {
	local nd pid
	nd=$(node_dir "$1")
	[[ -f $nd/pid ]] || return 0
	pid=$(cat "$nd/pid" 2>/dev/null || true)
	if pid_alive "$pid" "$nd"; then
		printf '%s\n' "$pid"
	else
		rm -f "$nd/pid"
	fi
}

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

show_tail() {
	local i=$1 nd f
	nd=$(node_dir "$i")
	for f in "$nd/logs/system.log" "$nd/logs/stdout.log"; do
		if [[ -s $f ]]; then
			printf '\n===== node%s (%s): last 60 lines of %s =====\n' "$i" "${IPS[i - 1]}" "$f" >&2
			tail -n 60 "$f" >&2
		fi
	done
	printf '\n' >&2
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
		cat >"$CACHE_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.it</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
		rm -rf "$LIB.tmp"
		local java_home
		java_home=$(dirname "$(dirname "$JAVA")")
		if ! JAVA_HOME=$java_home mvn -B -q -Dstyle.color=never \
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
# TLS material (generated once per instance dir; server cert redone if a host is missing)
# ---------------------------------------------------------------------------
gen_tls() {
	command -v openssl >/dev/null 2>&1 || die "openssl is required for CASSANDRA_TLS=1"
	mkdir -p "$TLS_DIR"
	chmod 700 "$TLS_DIR"
	local d=$TLS_DIR ip
	local -a want=(127.0.0.1 127.0.0.2 127.0.0.3)
	for ip in "${IPS[@]}"; do
		[[ " ${want[*]} " == *" $ip "* ]] || want+=("$ip")
	done
	local ossl_log=$d/openssl.log
	: >"$ossl_log"
	if [[ ! -s $d/ca.pem || ! -s $d/ca-key.pem ]]; then
		log "generating test CA in $d"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/ca-key.pem" 2>>"$ossl_log"
		openssl req -x509 -new -key "$d/ca-key.pem" -sha256 -days 3650 \
			-subj "/O=ipfs-cluster-scylla tests/CN=cassandra-test-ca-$NAME" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-out "$d/ca.pem" 2>>"$ossl_log"
		rm -f "$d/server.pem" "$d/client.pem"
	fi
	local covered=''
	[[ -f $d/server.sans ]] && covered=$(cat "$d/server.sans")
	for ip in "${want[@]}"; do
		[[ ",$covered," == *",$ip,"* ]] || rm -f "$d/server.pem"
	done
	if [[ ! -s $d/server.pem || ! -s $d/server-key.pem ]]; then
		local sans='DNS:localhost' joined
		for ip in "${want[@]}"; do sans+=",IP:$ip"; done
		joined=$(
			IFS=,
			printf '%s' "${want[*]}"
		)
		log "generating server certificate (SAN $sans)"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/server-key.pem" 2>>"$ossl_log"
		openssl req -new -key "$d/server-key.pem" -subj "/O=ipfs-cluster-scylla tests/CN=cassandra-$NAME" \
			-out "$d/server.csr" 2>>"$ossl_log"
		printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$sans" >"$d/server.ext"
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
			-set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$d/server.ext" \
			-out "$d/server.pem" 2>>"$ossl_log"
		# PEMBasedSslContextFactory keystore: unencrypted PKCS#8 key + certificate chain.
		cat "$d/server-key.pem" "$d/server.pem" "$d/ca.pem" >"$d/server-keystore.pem"
		printf '%s\n' "$joined" >"$d/server.sans"
		rm -f "$d/server.csr"
	fi
	if [[ ! -s $d/client.pem || ! -s $d/client-key.pem ]]; then
		log "generating client certificate"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/client-key.pem" 2>>"$ossl_log"
		openssl req -new -key "$d/client-key.pem" -subj "/O=ipfs-cluster-scylla tests/CN=cassandra" \
			-out "$d/client.csr" 2>>"$ossl_log"
		printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=clientAuth" >"$d/client.ext"
		openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
			-set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$d/client.ext" \
			-out "$d/client.pem" 2>>"$ossl_log"
		rm -f "$d/client.csr"
	fi
	chmod 600 "$d"/*-key.pem "$d/server-keystore.pem"
	openssl verify -CAfile "$d/ca.pem" "$d/server.pem" "$d/client.pem" >>"$ossl_log" 2>&1 ||
		die "generated certificates do not verify (see $ossl_log)"
}

# ---------------------------------------------------------------------------
# Config files
# ---------------------------------------------------------------------------

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

write_node_conf() {
	local i=$1 nd ip seeds='' s token jamm
	nd=$(node_dir "$i")
	ip=${IPS[i - 1]}
	for s in "${IPS[@]}"; do seeds+="${seeds:+,}$s:$STORAGE_PORT"; done
	token=$(token_for "$i" "$N")
	mkdir -p "$nd/conf/triggers" "$nd/logs" "$nd/storage"

	{
		cat <<EOF
# Generated by scripts/cassandra.sh for instance '$NAME' node $i. Do not edit: rewritten on start.
cluster_name: it-$NAME
num_tokens: 1
initial_token: $token
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$seeds"
listen_address: $ip
rpc_address: $ip
storage_port: $STORAGE_PORT
native_transport_port: $PORT
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
concurrent_compactors: 1
materialized_views_enabled: true
sasi_indexes_enabled: true
user_defined_functions_enabled: true
EOF
		if [[ $AUTH == 1 ]]; then
			cat <<EOF
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
roles_validity: 0ms
permissions_validity: 0ms
credentials_validity: 0ms
EOF
		fi
		if [[ $TLS == 1 ]]; then
			cat <<EOF
client_encryption_options:
  enabled: true
  optional: false
  require_client_auth: true
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: $TLS_DIR/server-keystore.pem
  truststore: $TLS_DIR/ca.pem
EOF
		fi
	} >"$nd/conf/cassandra.yaml"

	cat >"$nd/conf/logback.xml" <<'EOF'
<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <append>true</append>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern>
    </encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter">
      <level>WARN</level>
    </filter>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG"/>
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
EOF

	jamm=$(compgen -G "$LIB/jamm-*.jar" | head -n 1)
	{
		# conf/jvm-server.options (5.0), without AlwaysPreTouch/heap dumps.
		printf '%s\n' -ea '-da:net.openhft...' -XX:+UseThreadPriorities -Xss256k -XX:+UseTLAB -XX:+ResizeTLAB \
			-XX:+PerfDisableSharedMem -Djava.net.preferIPv4Stack=true -Dchronicle.analytics.disable=true
		# conf/jvm17-server.options (5.0): GC.
		printf '%s\n' -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
			-XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300 -XX:InitiatingHeapOccupancyPercent=70 \
			-XX:ParallelGCThreads=2 -XX:ConcGCThreads=1
		# conf/jvm17-server.options (5.0): JPMS.
		printf '%s\n' -Djdk.attach.allowAttachSelf=true \
			'--add-exports java.base/jdk.internal.misc=ALL-UNNAMED' \
			'--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED' \
			'--add-exports java.management/com.sun.jmx.remote.security=ALL-UNNAMED' \
			'--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED' \
			'--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED' \
			'--add-exports java.sql/java.sql=ALL-UNNAMED' \
			'--add-exports java.base/java.lang.ref=ALL-UNNAMED' \
			'--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED' \
			'--add-opens java.base/java.lang.module=ALL-UNNAMED' \
			'--add-opens java.base/jdk.internal.loader=ALL-UNNAMED' \
			'--add-opens java.base/jdk.internal.ref=ALL-UNNAMED' \
			'--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED' \
			'--add-opens java.base/jdk.internal.math=ALL-UNNAMED' \
			'--add-opens java.base/jdk.internal.module=ALL-UNNAMED' \
			'--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED' \
			'--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED' \
			'--add-opens java.base/sun.nio.ch=ALL-UNNAMED' \
			'--add-opens java.base/java.io=ALL-UNNAMED' \
			'--add-opens java.base/java.lang.reflect=ALL-UNNAMED' \
			'--add-opens java.base/java.lang=ALL-UNNAMED' \
			'--add-opens java.base/java.util=ALL-UNNAMED' \
			'--add-opens java.base/java.nio=ALL-UNNAMED'
		# bin/cassandra.in.sh adds these when a JDK is present.
		printf '%s\n' '--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED' \
			'--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED' \
			'--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED'
		# Netty.
		printf '%s\n' -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true \
			-Dio.netty.allocator.maxOrder=11
		# Heap, agent, test-friendly startup, files.
		printf '%s\n' "-Xms$HEAP" "-Xmx$HEAP" -XX:+ExitOnOutOfMemoryError "\"-XX:ErrorFile=$nd/logs/hs_err_%p.log\"" \
			"\"-javaagent:$jamm\"" \
			-Dcassandra-foreground=yes \
			-Dcassandra.skip_wait_for_gossip_to_settle=0 \
			-Dcassandra.ring_delay_ms=5000 \
			-Dcassandra.superuser_setup_delay_ms=1000 \
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

write_instance_conf() {
	mkdir -p "$DIR"
	printf '%s\n' "HOSTS=$HOSTS" "PORT=$PORT" "STORAGE_PORT=$STORAGE_PORT" "AUTH=$AUTH" "TLS=$TLS" "HEAP=$HEAP" "VERSION=$VERSION" \
		>"$DIR/instance.conf"
}

# ---------------------------------------------------------------------------
# Start / wait / stop
# ---------------------------------------------------------------------------

# launch_node I: start node I in the background (config must exist).
launch_node() {
	local i=$1 nd j f
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
		local pd
		pd=$(node_dir "$j")
		if [[ -f $pd/logs/system.log ]]; then
			wc -c <"$pd/logs/system.log" | tr -d ' ' >"$pd/logs/upmark.$i"
		else
			echo 0 >"$pd/logs/upmark.$i"
		fi
	done
	(cd "$nd" && exec nohup "$JAVA" "@$nd/conf/jvm.args" >"$nd/logs/stdout.log" 2>&1 </dev/null) &
	local pid=$!
	printf '%s\n' "$pid" >"$nd/pid"
	log "node$i ${IPS[i - 1]}: started pid $pid"
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
	local i=$1 j=$2 nd ipj off last
	nd=$(node_dir "$i")
	ipj=${IPS[j - 1]}
	off=0
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
			show_tail "$i"
			return 1
		fi
	done
}

# wait_cql DEADLINE I...: wait until the nodes serve CQL.
wait_cql() {
	local deadline=$1 i t0=$SECONDS
	shift
	local -a pending=("$@")
	while ((${#pending[@]} > 0)); do
		check_dead "${pending[@]}" || return 1
		local -a still=()
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
			for i in "${pending[@]}"; do show_tail "$i"; done
			return 1
		fi
		sleep 1
	done
}

running_nodes() {
	local i
	for ((i = 1; i <= N; i++)); do
		[[ -n $(node_pid "$i") ]] && printf '%s\n' "$i"
	done
	return 0
}

# wait_gossip DEADLINE: every running node sees every other running node UP.
wait_gossip() {
	local deadline=$1 i j missing t0=$SECONDS
	((N > 1)) || return 0
	local -a run
	mapfile -t run < <(running_nodes)
	while :; do
		check_dead "${run[@]}" || return 1
		missing=''
		for i in "${run[@]}"; do
			for j in "${run[@]}"; do
				((i == j)) && continue
				sees_up "$i" "$j" || missing+=" node$i->node$j"
			done
		done
		if [[ -z $missing ]]; then
			log "gossip: nodes ${run[*]} all see each other UP (after $((SECONDS - t0))s)"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			log "timeout waiting for gossip UP:$missing"
			for i in "${run[@]}"; do show_tail "$i"; done
			return 1
		fi
		sleep 1
	done
}

# ---------------------------------------------------------------------------
# CQL probe (Java, DataStax driver 3.x from the jar cache)
# ---------------------------------------------------------------------------
PROBE_CP=''
prepare_probe() {
	[[ -n $PROBE_CP ]] && return 0
	[[ -f $PROBE_SRC ]] || return 1
	local sum dir javac
	sum=$(sha256sum "$PROBE_SRC" | cut -c1-12)
	dir=$CACHE_DIR/probe-$sum
	if [[ ! -f $dir/CqlProbe.class ]]; then
		javac=$(dirname "$JAVA")/javac
		[[ -x $javac ]] || return 1
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		"$javac" -nowarn -d "$dir.tmp" -cp "$LIB/*" "$PROBE_SRC" >"$CACHE_DIR/probe.javac.log" 2>&1 || {
			cat "$CACHE_DIR/probe.javac.log" >&2
			return 1
		}
		cat >"$dir.tmp/logback.xml" <<'EOF'
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="ERROR"><appender-ref ref="STDERR"/></root>
</configuration>
EOF
		rm -rf "$dir"
		mv "$dir.tmp" "$dir" 2>/dev/null || rm -rf "$dir.tmp"
	fi
	PROBE_CP=$dir
}

# run_probe [STATEMENT...]: connect to all hosts (with auth/TLS as configured) and run them.
run_probe() {
	prepare_probe || die "cannot compile $PROBE_SRC (needs a JDK next to $JAVA)"
	local -a props=("-Dprobe.hosts=$HOSTS" "-Dprobe.port=$PORT")
	if [[ $AUTH == 1 ]]; then props+=(-Dprobe.user=cassandra -Dprobe.password=cassandra); fi
	if [[ $TLS == 1 ]]; then
		props+=("-Dprobe.ca=$TLS_DIR/ca.pem" "-Dprobe.cert=$TLS_DIR/client.pem" "-Dprobe.key=$TLS_DIR/client-key.pem")
	fi
	"$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true \
		-Dlogback.configurationFile="$PROBE_CP/logback.xml" \
		"${props[@]}" -cp "$PROBE_CP:$LIB/*" CqlProbe "$@"
}

# wait_auth DEADLINE: the default superuser exists and cassandra/cassandra can log in.
wait_auth() {
	local deadline=$1 t0=$SECONDS i out='' seen='' have_probe=0
	local -a run=()
	[[ $AUTH == 1 ]] || return 0
	if prepare_probe; then
		have_probe=1
	else
		log "WARNING: CQL probe unavailable (needs $PROBE_SRC and javac); relying on the log line only"
	fi
	while :; do
		if [[ -z $seen ]]; then
			for ((i = 1; i <= N; i++)); do
				if grep -qF -- "$SUPERUSER_LINE" "$(node_dir "$i")/logs/system.log" 2>/dev/null; then
					seen=node$i
					log "node$i logged \"$SUPERUSER_LINE 'cassandra'\" (after $((SECONDS - t0))s)"
					break
				fi
			done
		fi
		# The line is logged once per cluster lifetime: after a restart with kept data
		# ($DIR/auth.ready from an earlier success) the probe decides at once; else after 10s.
		if [[ -n $seen || -f $DIR/auth.ready ]] || ((SECONDS - t0 >= 10)); then
			if ((have_probe)); then
				if out=$(run_probe "SELECT role FROM system_auth.roles WHERE role = 'cassandra'" 2>&1); then
					log "login as cassandra/cassandra works$([[ $TLS == 1 ]] && echo ' (mutual TLS)') (after $((SECONDS - t0))s)"
					touch "$DIR/auth.ready"
					return 0
				fi
			elif [[ -n $seen || -f $DIR/auth.ready ]]; then
				return 0 # no probe: the log line (or an earlier success with this data) is all we have
			fi
		fi
		mapfile -t run < <(running_nodes)
		check_dead "${run[@]}" || return 1
		if ((SECONDS >= deadline)); then
			log "timeout waiting for login as cassandra/cassandra${out:+: $out}"
			return 1
		fi
		sleep 2
	done
}

# full_wait DEADLINE: everything `wait` promises, for all nodes.
full_wait() {
	local deadline=$1 i
	local -a all=()
	for ((i = 1; i <= N; i++)); do
		[[ -n $(node_pid "$i") ]] || {
			log "node$i (${IPS[i - 1]}) is not running (start it with '$0 start-node $i'; see '$0 logs $i')"
			return 1
		}
		all+=("$i")
	done
	wait_cql "$deadline" "${all[@]}" && wait_gossip "$deadline" && wait_auth "$deadline"
}

# stop_nodes SIGNAL I...: signal the nodes, wait (SIGTERM: up to STOP_TIMEOUT, then SIGKILL).
stop_nodes() {
	local sig=$1 i pid nd
	shift
	local -a pids=() dirs=()
	for i in "$@"; do
		nd=$(node_dir "$i")
		pid=$(node_pid "$i")
		if [[ -n $pid ]]; then
			log "node$i: SIG$sig pid $pid"
			kill "-$sig" "$pid" 2>/dev/null || true
			pids+=("$pid")
			dirs+=("$nd")
		fi
	done
	local deadline=$((SECONDS + STOP_TIMEOUT)) k alive
	while :; do
		alive=0
		for k in "${!pids[@]}"; do
			pid_alive "${pids[k]}" "${dirs[k]}" && alive=1
		done
		((alive == 0)) && break
		if ((SECONDS >= deadline)); then
			for k in "${!pids[@]}"; do
				if pid_alive "${pids[k]}" "${dirs[k]}"; then
					log "pid ${pids[k]} still alive after ${STOP_TIMEOUT}s: SIGKILL"
					kill -KILL "${pids[k]}" 2>/dev/null || true
				fi
			done
			deadline=$((SECONDS + 30))
			sig=KILL
		fi
		sleep 0.5
	done
	for i in "$@"; do rm -f "$(node_dir "$i")/pid"; done
	# A killed JVM can keep its listening sockets for a moment (until it is reaped).
	((${#pids[@]} > 0)) || return 0
	deadline=$((SECONDS + 15))
	for i in "$@"; do
		((i <= N)) || continue
		while tcp_open "${IPS[i - 1]}" "$PORT" && ((SECONDS < deadline)); do sleep 0.5; done
	done
}

stop_all() {
	local i
	local -a all=()
	for ((i = 1; i <= N; i++)); do all+=("$i"); done
	stop_nodes TERM "${all[@]}"
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
	local i ip t0=$SECONDS
	local -a running=()
	mapfile -t running < <(running_nodes)
	if ((${#running[@]} > 0)); then
		die "instance '$NAME' is already running (node(s) ${running[*]}; see '$0 status'); run '$0 stop' first"
	fi
	for ip in "${IPS[@]}"; do
		for p in "$PORT" "$STORAGE_PORT"; do
			tcp_open "$ip" "$p" && die "$ip:$p is already in use (another Cassandra instance or a leftover process?)"
		done
	done
	check_java
	cmd_fetch
	if [[ $KEEP_DATA == 1 && -f $DIR/instance.conf ]]; then
		local old
		old=$(sed -n 's/^HOSTS=//p' "$DIR/instance.conf")
		[[ $old == "$HOSTS" ]] || log "WARNING: CASSANDRA_KEEP_DATA=1 but hosts changed ($old -> $HOSTS)"
	fi
	mkdir -p "$DIR"
	write_instance_conf
	[[ $TLS == 1 ]] && gen_tls
	[[ $KEEP_DATA == 1 ]] || rm -f "$DIR/auth.ready"
	for ((i = 1; i <= N; i++)); do
		if [[ $KEEP_DATA != 1 ]]; then rm -rf "$(node_dir "$i")/storage"; fi
		write_node_conf "$i"
	done

	trap 'log "interrupted: stopping"; stop_all; exit 130' INT TERM
	local auth_desc='' tls_desc=''
	[[ $AUTH == 1 ]] && auth_desc=' auth'
	[[ $TLS == 1 ]] && tls_desc=' tls'
	log "starting Cassandra $VERSION: $N node(s) on $HOSTS port $PORT heap $HEAP$auth_desc$tls_desc (dir $DIR)"
	launch_node 1
	if ! wait_cql $((SECONDS + START_TIMEOUT)) 1; then
		fail_start
	fi
	local deadline=$((SECONDS + START_TIMEOUT))
	if ((N > 1)); then
		local -a rest=()
		for ((i = 2; i <= N; i++)); do
			launch_node "$i"
			rest+=("$i")
		done
		wait_cql "$deadline" "${rest[@]}" || fail_start
	fi
	if ! { wait_gossip "$deadline" && wait_auth "$deadline"; }; then
		fail_start
	fi
	trap - INT TERM
	log "ready in $((SECONDS - t0))s: hosts $HOSTS port $PORT"
}

fail_start() {
	log "startup FAILED; stopping what was started"
	stop_all
	exit 1
}

cmd_wait() {
	load_config other
	full_wait $((SECONDS + START_TIMEOUT)) || exit 1
	log "ready: hosts $HOSTS port $PORT"
}

cmd_stop() {
	load_config other
	local -a nodes=()
	# Stop every node that has a pid file, even if the recorded host list changed.
	local d i
	for d in "$DIR"/node*; do
		[[ -d $d ]] || continue
		i=${d##*/node}
		[[ $i =~ ^[0-9]+$ ]] && nodes+=("$i")
	done
	if ((${#nodes[@]} > 0)); then
		stop_nodes TERM "${nodes[@]}"
	fi
	log "stopped"
}

node_arg() {
	local i=${1:-}
	if ! [[ $i =~ ^[0-9]+$ ]] || ((i < 1 || i > N)); then die "node number must be 1..$N"; fi
	printf '%s\n' "$i"
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
	local i pid
	i=$(node_arg "${1:-}")
	pid=$(node_pid "$i")
	if [[ -n $pid ]]; then
		stop_nodes KILL "$i"
		log "node$i killed (SIGKILL, data kept)"
	else
		log "node$i is not running"
	fi
}

cmd_start_node() {
	load_config other
	local i t0=$SECONDS
	i=$(node_arg "${1:-}")
	[[ -z $(node_pid "$i") ]] || die "node$i is already running"
	tcp_open "${IPS[i - 1]}" "$PORT" && die "${IPS[i - 1]}:$PORT is already in use"
	check_java
	launch_node "$i"
	local deadline=$((SECONDS + START_TIMEOUT))
	if ! { wait_cql "$deadline" "$i" && wait_gossip "$deadline" && wait_auth "$deadline"; }; then
		log "node$i failed to come back"
		exit 1
	fi
	log "node$i ready in $((SECONDS - t0))s"
}

cmd_status() {
	load_config other
	local i pid state rc=0 ip
	for ((i = 1; i <= N; i++)); do
		ip=${IPS[i - 1]}
		pid=$(node_pid "$i")
		if [[ -z $pid ]]; then
			state=stopped
			rc=3
		elif cql_ready "$i"; then
			state=running
		else
			state=starting
			rc=3
		fi
		printf '%s node%s %s:%s pid=%s %s\n' "$NAME" "$i" "$ip" "$PORT" "${pid:--}" "$state"
	done
	return "$rc"
}

# export_line NAME VALUE: plain `export NAME=VALUE`, single-quoted only if needed.
export_line() {
	local v=$2
	if [[ ! $v =~ ^[A-Za-z0-9_./,:@+=-]*$ ]]; then
		v="'${v//\'/\'\\\'\'}'"
	fi
	printf 'export %s_%s=%s\n' "$ENV_PREFIX" "$1" "$v"
}

cmd_env() {
	load_config other
	[[ $ENV_PREFIX =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "CASSANDRA_ENV_PREFIX must be a shell variable name"
	export_line HOSTS "$HOSTS"
	export_line PORT "$PORT"
	if [[ $AUTH == 1 ]]; then
		export_line USERNAME cassandra
		export_line PASSWORD cassandra
	fi
	if [[ $TLS == 1 ]]; then
		export_line TLS_CA "$TLS_DIR/ca.pem"
		export_line TLS_CERT "$TLS_DIR/client.pem"
		export_line TLS_KEY "$TLS_DIR/client-key.pem"
	fi
}

cmd_logs() {
	load_config other
	local follow='' only='' i
	local -a files=()
	while (($# > 0)); do
		case $1 in
		-f) follow=1 ;;
		*) only=$(node_arg "$1") ;;
		esac
		shift
	done
	for ((i = 1; i <= N; i++)); do
		[[ -n $only && $i != "$only" ]] && continue
		[[ -f $(node_dir "$i")/logs/system.log ]] && files+=("$(node_dir "$i")/logs/system.log")
	done
	((${#files[@]} > 0)) || die "no logs in $DIR"
	if [[ -n $follow ]]; then
		exec tail -n "${CASSANDRA_LOG_LINES:-50}" -F "${files[@]}"
	fi
	tail -n "${CASSANDRA_LOG_LINES:-50}" "${files[@]}"
}

cmd_cql() {
	load_config other
	check_java
	fetch_done || die "run '$0 fetch' first"
	run_probe "$@"
}

cmd_clean() {
	cmd_stop
	[[ -n $DIR && $DIR != / && -d $DIR ]] && rm -rf "$DIR"
	log "removed $DIR"
}

main() {
	local cmd=${1:-help}
	(($# > 0)) && shift
	case $cmd in
	help | -h | --help)
		usage
		return 0
		;;
	esac
	check_common
	case $cmd in
	fetch) cmd_fetch ;;
	start) cmd_start ;;
	wait) cmd_wait ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	env) cmd_env ;;
	logs) cmd_logs "$@" ;;
	stop-node) cmd_stop_node "$@" ;;
	kill-node) cmd_kill_node "$@" ;;
	start-node) cmd_start_node "$@" ;;
	cql) cmd_cql "$@" ;;
	clean) cmd_clean ;;
	*)
		usage >&2
		die "unknown command '$cmd'"
		;;
	esac
}

main "$@"
