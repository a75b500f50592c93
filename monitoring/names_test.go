package monitoring

// The metric names that alerts.yml and the Grafana dashboard may query.
// A name outside these lists, a typo included, fails TestRulesUseKnownMetrics
// and TestDashboardUsesKnownMetrics.

// Histograms: queried through their _bucket, _count and _sum series.
var histograms = []string{
	"ipfscluster_scyllastate_operation_duration_seconds", // {operation, status}
	"ipfscluster_scyllastate_batch_size",
	"ipfscluster_scyllastate_group_size", // {group}
}

// ourMetrics are the counters and gauges of state/scyllastate (with
// state.scyllastate.metrics_enabled) and of the change feed of
// consensus/scylla. Together with histograms, the dashboard must show each.
var ourMetrics = []string{
	"ipfscluster_scyllastate_errors_total", // {operation}
	"ipfscluster_scyllastate_retries_total",
	"ipfscluster_scyllastate_database_healthy",
	"ipfscluster_scylla_feed_events_applied_total", // {op}
	"ipfscluster_scylla_feed_lag_seconds",
	"ipfscluster_scylla_feed_caught_up",
	"ipfscluster_scylla_feed_catchup_duration_seconds",
	"ipfscluster_scylla_feed_checkpoint_age_seconds",
	"ipfscluster_scylla_feed_poll_errors_total",
	"ipfscluster_scylla_feed_rolled_forward_total",
}

// upstreamMetrics are exported by upstream ipfs-cluster v1.1.5 on the same
// endpoint: its OpenCensus views (observations/metrics.go, namespace
// ipfscluster), the Go and process collectors, and libp2p's.
var upstreamMetrics = []string{
	"ipfscluster_pins",
	"ipfscluster_pins_pin_queued",
	"ipfscluster_pins_pinning",
	"ipfscluster_pins_pin_error",
	"ipfscluster_pins_ipfs_pins",
	"ipfscluster_pins_pin_add",
	"ipfscluster_pins_pin_add_errors",
	"ipfscluster_blocks_put",
	"ipfscluster_blocks_added_size",
	"ipfscluster_blocks_added",
	"ipfscluster_blocks_put_errors",
	"ipfscluster_informer_disk",
	"go_goroutines",
	"go_threads",
	"go_memstats_heap_alloc_bytes",
	"process_resident_memory_bytes",
	"process_cpu_seconds_total",
	"process_open_fds",
	"libp2p_rcmgr_connections", // {dir, scope}
}

// prometheusMetrics are made by Prometheus itself for every target.
var prometheusMetrics = []string{"up"}

// knownMetrics is every series name that may be queried.
func knownMetrics() map[string]bool {
	known := map[string]bool{}
	for _, h := range histograms {
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			known[h+suffix] = true
		}
	}
	for _, list := range [][]string{ourMetrics, upstreamMetrics, prometheusMetrics} {
		for _, n := range list {
			known[n] = true
		}
	}
	return known
}
