#!/usr/bin/env bash
# The whole test suite, with the race detector: go test -race -count=1 ./...
# First scripts/prereqs.sh checks for Go 1.26+ and installs what the tests
# need (gcc, redis-tools, redis-server) when it can, or says what to install.
# Arguments go to go test (e.g. ./test.sh -run TestTimer).
set -euo pipefail
cd "$(dirname "$0")"
scripts/prereqs.sh
exec go test -race -count=1 -timeout 15m ./... "$@"
