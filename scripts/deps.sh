#!/usr/bin/env bash
# What `make demo` and `make test` need on this machine, checked and installed:
# `scripts/deps.sh install|check|preflight [test|demo]|built|help`. The work is done in Go
# (internal/harness/deps) by scripts/harness.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/harness.sh" deps "$@"
