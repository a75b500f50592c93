// Package service builds and runs an IPFS Cluster peer from a loaded
// configuration helper, with upstream's components and the consensus the
// configuration selects: crdt or raft (upstream) or scylla (the shared
// pinset in ScyllaDB/Cassandra, in builds with the "scylla" tag). It also
// holds the offline state commands (export, import, cleanup) and the log
// level setup. It is the glue that upstream keeps in its daemon's main
// package, which cannot be imported.
package service
