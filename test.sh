#!/usr/bin/env bash
# The whole test suite, with the race detector.
set -euo pipefail
cd "$(dirname "$0")"
exec go test -race -count=1 -timeout 15m ./... "$@"
