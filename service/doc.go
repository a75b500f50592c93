// Package service builds and runs an IPFS Cluster peer from a loaded
// configuration helper, with upstream's components and the consensus the
// configuration selects: crdt or raft (upstream) or scylla (the shared
// pinset in ScyllaDB/Cassandra, in builds with the "scylla" tag). It also
// holds the offline state commands (export, import, cleanup), the
// migration of a stopped crdt or raft peer's pinset into the shared one
// (Migrate: on a copy of the source, verified pin by pin), the offline crdt
// datastore of upstream's `state crdt` commands, and the log setup. It is the glue that upstream keeps in its daemon's main
// package, which cannot be imported.
package service
