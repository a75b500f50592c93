package scyllastate

import "github.com/gocql/gocql"

// WithClusterHook lets tests observe or adjust the driver configuration
// (for example to add query or connect observers).
func WithClusterHook(f func(*gocql.ClusterConfig)) Option {
	return func(o *options) { o.clusterHook = f }
}
