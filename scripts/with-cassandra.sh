#!/usr/bin/env bash
# Runs a command with the test databases up: "main" (127.0.0.1:9042, SCYLLASTATE_TEST_*) and, unless
# WITH_SECURE=0, "secure" (127.0.0.2, auth + mutual TLS, SCYLLASTATE_TEST_SECURE_*); the ones it starts
# are stopped at the end. `scripts/with-cassandra.sh go test ./...`; the work: scripts/harness (Go).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/harness.sh" with-cassandra "$@"
