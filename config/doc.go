// Package config is ipfs-cluster-scylla's configuration helper, the
// counterpart of upstream's cmdutils.ConfigHelper, which cannot register
// components of its own. It registers every upstream component and, in
// builds with the "scylla" build tag, the scyllastate section
// (state.scyllastate: the database connection) and the Scylla-backed
// consensus (consensus.scylla).
//
// A binary built without the tag refuses `--datastore scylla` and any
// service.json holding those sections, naming the tag, rather than
// silently running another consensus.
package config
