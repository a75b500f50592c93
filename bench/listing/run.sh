#!/usr/bin/env bash
# One peer of ours, N pins allocated to a peer outside the cluster (none tracked here):
# what one full REST listing costs the peer, the database and the client (CPU from /proc
# and /usr/bin/time), and a CPU profile of the peer during one (WORK/cpu.pprof).
# Needs make build and the Cassandra of scripts/cassandra.sh (main instance); keyspace
# lsbench_N, dropped at the end unless KEEP_KEYSPACE=1 (then SKIP_IMPORT=1 reuses it).
#   N=1000000 bench/listing/run.sh      (PROF_S: seconds of profile [12])
set -euo pipefail
for tool in jq curl bc /usr/bin/time go; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool is missing (Debian: apt-get install jq curl bc time; Go from go.dev)" >&2
		exit 1
	}
done
R=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) W=${WORK:-/tmp/lsbench} N=${N:-1000000}
KS=lsbench_$N
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
dbpid=$(cat /tmp/ipfs-cluster-scylla-cassandra/main/node1/pid)
mkdir -p "$W"
[[ -s $W/pins-$N.ndjson ]] || (cd "$R" && go run ./bench/listing -n "$N") > "$W/pins-$N.ndjson"
rm -rf "$W/peer"
export CLUSTER_SCYLLASTATE_HOSTS=127.0.0.1 CLUSTER_SCYLLASTATE_KEYSPACE=$KS
"$R/bin/ipfs-cluster-service" -c "$W/peer" init --datastore scylla --randomports -f >/dev/null 2>&1
MET=29111
jq --arg m "/ip4/127.0.0.1/tcp/$MET" '.observations.metrics.prometheus_endpoint=$m' "$W/peer/service.json" > "$W/s.json" && mv "$W/s.json" "$W/peer/service.json"
REST=$(jq -r '.api.restapi.http_listen_multiaddress' "$W/peer/service.json" | awk -F/ '{print $5}')
if [[ ${SKIP_IMPORT:-0} != 1 ]]; then
  /usr/bin/time -f 'import: %e s wall, %U user %S sys, %M KB' "$R/bin/ipfs-cluster-service" -c "$W/peer" state import -f "$W/pins-$N.ndjson" > "$W/import.log" 2>&1 || { tail "$W/import.log"; exit 1; }
  tail -1 "$W/import.log"
fi
"$R/bin/ipfs-cluster-service" -c "$W/peer" daemon --stats > "$W/daemon.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; [[ ${KEEP_KEYSPACE:-0} == 1 ]] || "$R/scripts/cassandra.sh" cql "DROP KEYSPACE IF EXISTS $KS" >/dev/null || true' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$REST/id" >/dev/null && break; sleep 1; done
echo "peer up (pid $pid, REST $REST)"
sleep 20
run() { # label, command...
  local label=$1; shift
  local p0 d0 t0 t1
  p0=$(ticks $pid); d0=$(ticks "$dbpid"); t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$W/time.txt" "$@" > "$W/out.txt"
  t1=$(date +%s.%N)
  read -r cu cs cm < "$W/time.txt"
  printf '%-28s wall %6.2f s | peer CPU %6.2f s | db CPU %6.2f s | client CPU %6.2f s (max RSS %d MB) | lines %d\n' \
    "$label" "$(echo "$t1 - $t0" | bc)" "$(echo "($(ticks $pid) - $p0)/100" | bc -l)" "$(echo "($(ticks "$dbpid") - $d0)/100" | bc -l)" \
    "$(echo "$cu + $cs" | bc)" $((cm/1024)) "$(wc -l < "$W/out.txt")"
}
for i in 1 2; do
  run "curl /allocations ($i)" curl -sf "http://127.0.0.1:$REST/allocations?filter=all"
done
for i in 1 2; do
  run "ipfs-cluster-ctl pin ls ($i)" "$R/bin/ipfs-cluster-ctl" --host "/ip4/127.0.0.1/tcp/$REST" pin ls
done
curl -sf "http://127.0.0.1:$MET/debug/pprof/profile?seconds=${PROF_S:-12}" > "$W/cpu.pprof" &
prof=$!
sleep 0.5
run "curl under profile" curl -sf "http://127.0.0.1:$REST/allocations?filter=all"
wait $prof
echo "profile: go tool pprof -top $R/bin/ipfs-cluster-service $W/cpu.pprof"
