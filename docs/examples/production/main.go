// Command production builds the configuration of a peer in a two data
// center deployment, applies the CLUSTER_SCYLLASTATE_* environment (the
// credentials come from there), validates it and prints it as the
// "scyllastate" section of service.json, password hidden. It does not
// connect.
//
//	CLUSTER_SCYLLASTATE_USERNAME=cluster CLUSTER_SCYLLASTATE_PASSWORD=... production
package main

import (
	"fmt"
	"log"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	cfg, err := haConfig()
	if err != nil {
		log.Fatal(err)
	}
	out, err := cfg.ToDisplayJSON() // ToJSON would include the password
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q: %s\n", cfg.ConfigKey(), out)
}

func haConfig() (*scyllastate.Config, error) {
	cfg := &scyllastate.Config{
		// Contact points of this peer's data center first; the driver
		// discovers the other nodes.
		Hosts: []string{
			"scylla-node1.dc1.example.com",
			"scylla-node2.dc1.example.com",
			"scylla-node3.dc1.example.com",
		},
		Port:     9042,
		Keyspace: "ipfs_cluster_prod",

		// Quorum of this data center's replicas for every read and
		// every write but the change events (the store sends no
		// lightweight transaction).
		Consistency: "LOCAL_QUORUM",
		// Change events wait for a quorum in every data center, so that
		// the peers of the other one see every change in time (falling
		// back to LOCAL_QUORUM while a data center is cut off).
		EventConsistency:  "EACH_QUORUM",
		TokenAwareRouting: true,  // coordinator = a replica of the pin
		DCAwareRouting:    true,  // prefer nodes of LocalDC
		LocalDC:           "dc1", // this peer's data center, as the database names it

		// Used only when the store creates the keyspace (schema_mode
		// "create"): three replicas in each data center.
		ReplicationStrategy: scyllastate.NetworkTopologyStrategy,
		DCReplication:       map[string]int{"dc1": 3, "dc2": 3},

		NumConns:                   2,
		Timeout:                    10 * time.Second,
		ConnectTimeout:             10 * time.Second,
		PageSize:                   5000,
		PreparedStatementCacheSize: 1000,

		TLS: &scyllastate.TLSConfig{
			Enabled:  true,
			CertFile: "/etc/ssl/certs/client.pem",
			KeyFile:  "/etc/ssl/private/client-key.pem",
			CAFile:   "/etc/ssl/certs/ca.pem",
		},
		// A write may take timeout × (1 + num_retries) plus the backoff:
		// 10s × 4 + 0.7s here. A peer refuses to start unless
		// consensus.scylla.feed_overlap (1m by default) exceeds that plus
		// 5s of clock skew: raise feed_overlap with more retries or a
		// longer timeout.
		RetryPolicy: &scyllastate.RetryPolicyConfig{
			NumRetries:    3,
			MinRetryDelay: 100 * time.Millisecond,
			MaxRetryDelay: 10 * time.Second,
		},
		MetricsEnabled: true,
	}
	if err := cfg.Default(); err != nil {
		return nil, err
	}
	// Username and password (and any other field) from
	// CLUSTER_SCYLLASTATE_USERNAME, CLUSTER_SCYLLASTATE_PASSWORD, ...
	if err := cfg.ApplyEnvVars(); err != nil {
		return nil, err
	}
	// New validates too; validating here reports a bad value (naming the
	// field) before anything connects.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
