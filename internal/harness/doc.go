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
//   - cqlprobe: the small CQL client (login check, statements).
//   - jsonconf: dotted-path edits of JSON configuration files.
package harness
