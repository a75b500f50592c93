#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="a real Prometheus scrapes a real scylla peer: store and upstream metrics are queryable, monitoring/prometheus/alerts.yml loads and stays quiet"

. "$(dirname "$0")/lib/test-lib.sh"

# What Prometheus must return at least one series for, once the peer has pinned something:
# one PromQL selector a line. Add the change-feed metrics of consensus/scylla here once the
# peer exports them (ipfscluster_scylla_feed_caught_up, ipfscluster_scylla_feed_lag_seconds,
# ipfscluster_scylla_feed_events_applied_total, ...; ipfscluster_scyllastate_database_healthy).
EXPECTED_SERIES=(
	'ipfscluster_scyllastate_operation_duration_seconds_count{operation="add",status="success"}'
	'ipfscluster_scyllastate_operation_duration_seconds_bucket{operation="get"}'
	'ipfscluster_scyllastate_operation_duration_seconds_sum{operation="list"}'
	'ipfscluster_scyllastate_retries_total'
	'ipfscluster_scyllastate_database_healthy == 1'
	'ipfscluster_scylla_feed_events_applied_total{op="pin"}'
	'ipfscluster_scylla_feed_lag_seconds'
	'ipfscluster_scylla_feed_caught_up == 1'
	'ipfscluster_scylla_feed_catchup_duration_seconds'
	'ipfscluster_scylla_feed_checkpoint_age_seconds'
	'ipfscluster_scylla_feed_poll_errors_total'
	'ipfscluster_scylla_feed_rolled_forward_total'
	'ipfscluster_pins'
	'go_goroutines'
	'process_resident_memory_bytes'
	'up{job="ipfs-cluster"} == 1'
)

ALERTS_FILE=$REPO_ROOT/monitoring/prometheus/alerts.yml
DASHBOARD_FILE=$REPO_ROOT/monitoring/grafana/ipfs-cluster-scylla.json
PROM_DIR=$SHARNESS_TRASH_DIRECTORY/prometheus
PROM_BIN=$(command -v prometheus || true)
[ -n "$PROM_BIN" ] && test_set_prereq PROMETHEUS

test_cassandra_require

# prom_pid: the pid of the Prometheus started here (empty if none).
prom_pid() { cat "$PROM_DIR/prometheus.pid" 2>/dev/null || true; }

# prom_running PID: PID is the Prometheus started here (not a recycled PID), and runs.
prom_running() { proc_is "$1" "--config.file=$PROM_DIR/prometheus.yml"; }

# prom_stop: SIGTERM the Prometheus started here, SIGKILL after 20 s; idempotent.
prom_stop() {
	local pid
	pid=$(prom_pid)
	[ -n "$pid" ] || return 0
	if prom_running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		test_pid_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true
		test_pid_gone "$pid" 5 || return 1
		wait "$pid" 2>/dev/null || true # reap it: it is a child of this shell
	fi
	rm -f "$PROM_DIR/prometheus.pid"
}

# Stop Prometheus when the script ends: on success (sharness cleanup) and on failure or an
# unexpected exit (before the EXIT trap of lib/test-lib.sh, which stops the peer and kubo).
cleanup prom_stop
eval "set -- $(trap -p EXIT)"
T0110_LIB_EXIT_TRAP=$3
set --
t0110_on_exit() {
	local rc=$?
	prom_stop >&4 2>&1 || true
	(exit "$rc")
	eval "$T0110_LIB_EXIT_TRAP"
}
trap t0110_on_exit EXIT

# prom_start TARGET_PORT: run prometheus on a free loopback port, scraping the peer's
# 127.0.0.1:TARGET_PORT/metrics every second and evaluating alerts.yml every second.
prom_start() {
	mkdir -p "$PROM_DIR" || return 1
	PROM_PORT=$(test_free_port) || return 1
	cat >"$PROM_DIR/prometheus.yml" <<-EOF || return 1
		global:
		  scrape_interval: 1s
		  scrape_timeout: 1s
		  evaluation_interval: 1s
		rule_files:
		  - $ALERTS_FILE
		scrape_configs:
		  - job_name: ipfs-cluster
		    static_configs:
		      - targets: ["127.0.0.1:$1"]
		        labels: {peer: peer0}
		    relabel_configs:
		      - source_labels: [__address__]
		        target_label: address
		      - source_labels: [peer]
		        regex: (.+)
		        target_label: instance
		      - regex: peer
		        action: labeldrop
	EOF
	"$PROM_BIN" --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
		</dev/null >"$PROM_DIR/prometheus.log" 2>&1 3>&- 4>&- 5>&- 6>&- &
	echo $! >"$PROM_DIR/prometheus.pid"
	echo "prometheus: pid $(prom_pid), http://127.0.0.1:$PROM_PORT" >&4
}

# prom_api PATH [CURL ARGS...]: GET http://127.0.0.1:$PROM_PORT/api/v1/PATH, fail unless
# Prometheus answers status "success".
prom_api() {
	local path=$1
	shift
	curl -s --max-time 5 -G "$@" "http://127.0.0.1:$PROM_PORT/api/v1/$path" >prom-answer.json &&
		jq -e '.status == "success"' prom-answer.json >/dev/null
}

# prom_has_series QUERY: an instant query returns at least one series of the peer.
prom_has_series() {
	prom_api query --data-urlencode "query=$1" &&
		jq -e '.data.result | map(select(.metric.instance == "peer0")) | length > 0' prom-answer.json >/dev/null
}

# prom_all_series: every EXPECTED_SERIES query returns a series; names the missing ones.
prom_all_series() {
	local q missing=0
	for q in "${EXPECTED_SERIES[@]}"; do
		prom_has_series "$q" || {
			echo "no series for: $q" >&2
			missing=1
		}
	done
	return "$missing"
}

# dashboard_queries: every PromQL query of the Grafana dashboard, one a line, with its
# variables set as Grafana would for this peer.
dashboard_queries() {
	jq -r '(.panels[] | .. | objects | select(has("expr")) | .expr),
		(.templating.list[] | select(.type == "query") | .query.query
			| capture("^label_values\\((?<s>.*),\\s*[a-z_]+\\)$").s)' "$DASHBOARD_FILE" |
		sed -e 's/\$__rate_interval/1m/g' -e 's/\$job/ipfs-cluster/g' -e 's/\$instance/peer0/g'
}

# prom_target_up: the peer's target has been scraped successfully.
prom_target_up() {
	prom_api targets &&
		jq -e '.data.activeTargets | map(select(.labels.instance == "peer0" and .health == "up")) | length == 1' \
			prom-answer.json >/dev/null
}

# prom_rules_evaluated: every rule of alerts.yml is loaded and has been evaluated without error.
prom_rules_evaluated() {
	prom_api rules &&
		jq -e --argjson n "$(grep -c '^ *- alert:' "$ALERTS_FILE")" '
			[.data.groups[].rules[]] as $r
			| ($r | length) == $n and ($r | all(.health == "ok" and .lastEvaluation != "0001-01-01T00:00:00Z"))' \
			prom-answer.json >/dev/null
}

test_expect_success PROMETHEUS 'promtool accepts the alert rules' '
	promtool check rules "$ALERTS_FILE"
'

test_expect_success 'a scylla peer runs with --stats and the store metrics enabled' '
	cluster_init_scylla_peer p kubo0 &&
	METRICS_PORT=$(test_free_port) &&
	cluster_config_set p ".observations.metrics.prometheus_endpoint = \$ma
		| .state.scyllastate.metrics_enabled = true" --arg ma "/ip4/127.0.0.1/tcp/$METRICS_PORT" &&
	cluster_start p --stats &&
	{
		test_wait_for 120 cluster_ready p &&
		cluster_wait_metrics p 60 || {
			tail -n 40 p/daemon.log >&2
			false
		}
	}
'

test_expect_success 'the peer serves its metrics' '
	curl -sSf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >metrics.txt &&
	grep -q "^ipfscluster_scyllastate_operation_duration_seconds_bucket{" metrics.txt
'

test_expect_success PROMETHEUS 'prometheus scrapes the peer' '
	prom_start "$METRICS_PORT" &&
	test_wait_for 60 prom_target_up || {
		cat "$PROM_DIR/prometheus.log" >&2
		false
	}
'

# pin_file NAME: add a new file to kubo0 (not pinned), pin it through ipfs-cluster-ctl and
# wait until the peer reports it pinned.
pin_file() {
	local cid
	printf "scraped by prometheus: %s %s\n" "$1" "$$" >"$1" &&
		cid=$(ipfsCmd kubo0 add -q --pin=false "$1") &&
		ctlCmd p pin add "$cid" >/dev/null &&
		test_wait_for 30 cluster_status_is p "$cid" pinned &&
		ctlCmd p pin ls "$cid" | grep -q "$cid"
}

ADD_COUNT='ipfscluster_scyllastate_operation_duration_seconds_count{instance="peer0",operation="add",status="success"}'

test_expect_success PROMETHEUS 'pins through ipfs-cluster-ctl write to the store while prometheus watches' '
	pin_file file1 &&
	test_wait_for 30 prom_has_series "$ADD_COUNT" &&
	pin_file file2 &&
	ctlCmd p pin ls >pinset.txt &&
	test "$(wc -l <pinset.txt)" -eq 2
'

test_expect_success PROMETHEUS 'prometheus returns the store and upstream metrics of the peer' '
	test_wait_for 30 prom_all_series || {
		prom_all_series
		false
	}
'

# prom_saw_add: the add counter grew while Prometheus scraped (the first series value is not
# an increase: the second pin is).
prom_saw_add() {
	prom_api query --data-urlencode "query=increase(${ADD_COUNT}[5m])" &&
		jq -e ".data.result[0].value[1] | tonumber >= 0.5" prom-answer.json >/dev/null
}

test_expect_success PROMETHEUS 'prometheus saw the adds of the pins' '
	test_wait_for 30 prom_saw_add || {
		cat prom-answer.json >&2
		false
	}
'

test_expect_success PROMETHEUS 'the alert rules load and evaluate against the peer' '
	test_wait_for 30 prom_rules_evaluated || {
		jq ".data.groups[].rules[] | {name, health, lastError}" prom-answer.json >&2
		false
	}
'

test_expect_success PROMETHEUS 'prometheus runs every query of the Grafana dashboard' '
	dashboard_queries >queries &&
	test "$(wc -l <queries)" -ge 20 &&
	while IFS= read -r q; do
		prom_api query --data-urlencode "query=$q" || {
			echo "prometheus refused: $q" >&2
			cat prom-answer.json >&2
			return 1
		}
	done <queries &&
	prom_api query --data-urlencode "query=$(grep -m1 "histogram_quantile(0.99, sum by (operation, le)" queries | sed "s/\[1m\]/[5m]/")" &&
	jq -e ".data.result[] | select(.metric.operation == \"add\") | .value[1] | tonumber > 0" prom-answer.json >/dev/null || {
		cat prom-answer.json >&2
		false
	}
'

test_expect_success PROMETHEUS 'a healthy peer raises no alert' '
	prom_api alerts &&
	jq -e ".data.alerts | length == 0" prom-answer.json >/dev/null || {
		jq ".data.alerts" prom-answer.json >&2
		false
	}
'

test_expect_success PROMETHEUS 'prometheus and the peer stop' '
	pid=$(prom_pid) &&
	prom_running "$pid" &&
	prom_stop &&
	! prom_running "$pid" &&
	cluster_stop p
'

test_done
