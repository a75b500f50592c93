#!/usr/bin/env bash
# Fetch, start, stop, check and disturb a REAL Apache Cassandra (5.0.x, from Maven
# Central) for the integration and fault tests. Run `scripts/cassandra.sh help`.
# The work is done in Go (internal/harness/cassandra) by scripts/harness.
set -euo pipefail
HARNESS_SCRIPT=$0 exec "$(dirname "${BASH_SOURCE[0]}")/harness.sh" cassandra "$@"
