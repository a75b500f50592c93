#!/usr/bin/env bash
# Build, start, stop and check local kubo (`ipfs`) daemons for the end-to-end tests.
# Run `scripts/kubo.sh help`. The work is done in Go (internal/harness/kubo) by scripts/harness.
set -euo pipefail
HARNESS_SCRIPT=$0 exec "$(dirname "${BASH_SOURCE[0]}")/harness.sh" kubo "$@"
