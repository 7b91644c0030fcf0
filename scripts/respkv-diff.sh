#!/bin/sh
# respkv-diff.sh [duration] [seed]: run respkv's differential test against a
# real redis-server (from PATH) for longer than CI does (default 10m, a
# random seed; the seed is printed, and -diff.seed replays it).
set -eu
cd "$(dirname "$0")/.."
duration=${1:-10m}
seed=${2:-0}
exec go test -count=1 -timeout 0 -run 'TestDifferential' -v ./cmd/respkv -diff.duration="$duration" -diff.seed="$seed"
