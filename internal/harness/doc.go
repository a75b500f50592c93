// Package harness is the one process harness of the project's tests and
// benchmarks: it starts, waits for, disturbs and stops the real programs
// they run against.
//
// # Packages
//
//   - proc: processes a Go program owns (started, waited for with a
//     context and a timeout, stopped with SIGTERM then SIGKILL), detached
//     daemons known by a pid file (with the start time, so a recycled pid
//     is never taken for ours), /proc CPU time and RSS, log watching and
//     free ports.
//   - cassandra: Apache Cassandra 5.0 instances from Maven Central, one
//     node per loopback IP, data centers, auth and mutual TLS; the
//     features and the on-disk layout of scripts/cassandra.sh, which is a
//     thin wrapper of the command in scripts/harness.
//   - kubo: throwaway kubo daemons: named instances known by their pid
//     files (scripts/kubo.sh is a thin wrapper of the command in
//     scripts/harness), and the benchmark's offline daemons.
//   - cluster: ipfs-cluster-service peers for the sharness suite and the
//     demo (init on loopback, daemon known by its pid file, wait, stop,
//     kill) and the bookkeeping of what a test script started; the
//     helpers of sharness/lib/peers.sh call the command in scripts/harness.
//   - deps: what make test and make demo need on the machine, checked and
//     installed (scripts/deps.sh is a thin wrapper of its command).
//   - pinset: the benchmarks' pinsets (CIDs no one has, state export files).
//   - cqlprobe: the small CQL client (login check, statements).
//   - jsonconf: dotted-path edits of JSON configuration files.
package harness
