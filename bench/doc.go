// Package bench compares scyllastate with upstream's dsstate over pebble,
// side by side in one run on the same machine and the same pins:
//
//	go test -run '^$' -bench . ./bench/
//
// Scylla figures need the database of scripts/cassandra.sh (see
// docs/testing.md); pebble runs in a temporary folder.
package bench
