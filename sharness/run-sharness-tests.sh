#!/usr/bin/env bash
# Runs the sharness suite: every sharness/t*.sh, or the TEST.sh given (`$0 --help`).
# The work is done in Go (internal/harness/sharness) by `scripts/harness.sh sharness`.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/harness.sh" sharness "$@"
