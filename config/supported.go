package config

// ScyllaSupported tells whether this binary was built with the "scylla"
// build tag, which brings the Scylla-backed state and consensus.
func ScyllaSupported() bool { return scyllaSupported }
