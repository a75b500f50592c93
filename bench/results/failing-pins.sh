#!/usr/bin/env bash
# failing-pins benchmark (bench/results/failing-pins.md): one peer (ours: scylla; or upstream
# v1.1.5 crdt on pebble), N imported pins, an offline kubo: every pin fails. Measures the time
# until all N are in error (ipfscluster_pins_pin_error), the peer RSS then and 60 s later, and
# the time of `ipfs-cluster-ctl status --filter error`. GEN: the pinset generator (see the .md).
#   bench/results/failing-pins.sh scylla|crdt N
set -euo pipefail
MODE=$1 N=$2
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=$REPO/bin
W=${WORK:-/tmp/fpbench}/$MODE-$N
rm -rf "$W" && mkdir -p "$W"
KS=fpbench_${MODE}_$N
log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$W/summary.txt" >&2; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# offline kubo
API=$(port) SW=$(port)
export IPFS_PATH=$W/kubo IPFS_TELEMETRY=off
"$BIN/ipfs" init --profile test >/dev/null
"$BIN/ipfs" config Addresses.API "/ip4/127.0.0.1/tcp/$API"
"$BIN/ipfs" config Addresses.Gateway ""
"$BIN/ipfs" config --json Addresses.Swarm "[\"/ip4/127.0.0.1/tcp/$SW\"]"
"$BIN/ipfs" daemon --offline --migrate=false >"$W/kubo.log" 2>&1 &
KPID=$!
echo "$KPID" >"$W/kubo.pid"
for _ in $(seq 100); do curl -s -X POST "http://127.0.0.1:$API/api/v0/version" >/dev/null && break; sleep 0.2; done

# generate pins
"${GEN:-/tmp/fpbench/gen}" "$MODE-$N" "$N" >"$W/pins.ndjson"

# peer
C=$W/peer
if [ "$MODE" = scylla ]; then
	SVC=$BIN/ipfs-cluster-service
	"$SVC" --config "$C" init --force --datastore scylla --randomports >/dev/null 2>&1
	jq --arg ks "$KS" '.state.scyllastate.keyspace = $ks' "$C/service.json" >"$C/s.tmp" && mv "$C/s.tmp" "$C/service.json"
else
	SVC=$BIN/upstream/ipfs-cluster-service
	"$SVC" --config "$C" init --force --consensus crdt --datastore pebble --randomports >/dev/null 2>&1
fi
MP=$(port)
jq --arg ma "/ip4/127.0.0.1/tcp/$API" --arg m "/ip4/127.0.0.1/tcp/$MP" '
	.ipfs_connector.ipfshttp.node_multiaddress = $ma | .api.ipfsproxy.node_multiaddress = $ma
	| .observations.metrics.prometheus_endpoint = $m
	| .cluster.listen_multiaddress |= map(sub("/0\\.0\\.0\\.0/"; "/127.0.0.1/")) | .cluster.mdns_interval = "0s"' \
	"$C/service.json" >"$C/s.tmp" && mv "$C/s.tmp" "$C/service.json"
RP=$(jq -r '.api.restapi.http_listen_multiaddress' "$C/service.json" | sed 's#.*/tcp/##')
ctl() { "$BIN/ipfs-cluster-ctl" --host "/ip4/127.0.0.1/tcp/$RP" "$@"; }
metric() { curl -s --max-time 5 "http://127.0.0.1:$MP/metrics" | awk '$1 == "ipfscluster_pins_pin_error" { print $2 }'; }

t0=$(date +%s.%N)
"$SVC" --config "$C" state import --force "$W/pins.ndjson" >"$W/import.log" 2>&1
log "$MODE N=$N import: $(echo "$(date +%s.%N) - $t0" | bc) s"

t0=$(date +%s.%N)
"$SVC" --config "$C" daemon --stats >"$W/daemon.log" 2>&1 &
PID=$!
echo "$PID" >"$W/peer.pid"
until grep -q "IPFS Cluster is READY" "$W/daemon.log"; do kill -0 "$PID"; sleep 0.2; done
log "ready after $(echo "$(date +%s.%N) - $t0" | bc) s"
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %d MB  ", $1, $2/1024}' "/proc/$PID/status"; }
deadline=$((SECONDS + ${TIMEOUT:-1200}))
last=''
while :; do
	m=$(metric || true)
	[ "${m:-0}" -ge "$N" ] 2>/dev/null && break
	if [ "$m" != "$last" ] && ((SECONDS % 10 == 0)); then log "metric $m; $(rss)"; last=$m; fi
	((SECONDS < deadline)) || { log "TIMEOUT: metric $m"; break; }
	sleep 1
done
log "all $N in error (metric $(metric)) after $(echo "$(date +%s.%N) - $t0" | bc) s since start; $(rss)"
for i in 1 2 3; do
	s=$(date +%s.%N)
	ctl status --filter error >/dev/null
	log "status --filter error #$i: $(echo "$(date +%s.%N) - $s" | bc) s; $(rss)"
done
s=$(date +%s.%N)
cnt=$(ctl --enc=json status --filter error | jq -c . | wc -l)
log "listed (json, jq -c | wc -l): $cnt in $(echo "$(date +%s.%N) - $s" | bc) s"
s=$(date +%s.%N)
ctl status "$(head -1 "$W/pins.ndjson" | jq -r .cid)" | head -2 | tail -1 | cut -c1-100 >>"$W/summary.txt"
log "status CID: $(echo "$(date +%s.%N) - $s" | bc) s"
sleep 60
log "60 s later: $(rss) metric $(metric)"
s=$(date +%s.%N)
ctl status --filter error >/dev/null
log "status --filter error after 60 s: $(echo "$(date +%s.%N) - $s" | bc) s; $(rss)"
grep -c "repair of pinset slice" "$W/daemon.log" | sed 's/^/repair slice lines: /' >>"$W/summary.txt" || true
kill -TERM "$PID"; wait "$PID" || true
kill -TERM "$KPID"; wait "$KPID" || true
if [ "$MODE" = scylla ]; then
	"$REPO/scripts/cassandra.sh" cql "DROP KEYSPACE IF EXISTS $KS" >/dev/null 2>&1 || true
fi
log "done"
