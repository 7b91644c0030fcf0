#!/usr/bin/env bash
# The whole test suite N times in a row (default 10) beside two processes
# that each burn a CPU, to shake out tests that depend on timing.
#
#   scripts/flakehunt.sh [N] [go test flags...]     e.g. scripts/flakehunt.sh 3 -run TestTimer
#
# Each run is go test -race -count=1 ./... with the flags given; its output is
# kept in a log directory (FLAKEHUNT_LOG, default a new temporary directory).
# At the end it lists every failing test with the runs it failed in, and
# exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10}
[ $# -gt 0 ] && shift
case "$n" in ''|*[!0-9]*) echo "usage: $0 [N] [go test flags...]" >&2; exit 2;; esac

scripts/prereqs.sh
logs=${FLAKEHUNT_LOG:-$(mktemp -d "${TMPDIR:-/tmp}/flakehunt.XXXXXX")}
mkdir -p "$logs"

burners=()
stop_burners() { for p in "${burners[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_burners EXIT
for _ in 1 2; do
  yes >/dev/null &
  burners+=($!)
done

echo "flakehunt: $n runs of go test -race -count=1 ./... $*, beside 2 CPU burners; logs in $logs"
failed=0
for i in $(seq 1 "$n"); do
  start=$SECONDS
  if go test -race -count=1 -timeout 20m ./... "$@" >"$logs/run-$i.txt" 2>&1; then
    echo "run $i: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    echo "run $i: FAILED ($((SECONDS - start)) s):"
    grep -E '^(--- FAIL|FAIL|panic:)' "$logs/run-$i.txt" | sed 's/^/    /' || true
  fi
done

echo
if [ "$failed" -gt 0 ]; then
  echo "failing tests (run files in $logs):"
  grep -H -E '^\s*--- FAIL' "$logs"/run-*.txt | sed -E 's/^.*run-([0-9]+)\.txt:\s*--- FAIL: (\S+).*/\2 run \1/' | sort | uniq | sed 's/^/    /'
fi
echo "flakehunt: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
