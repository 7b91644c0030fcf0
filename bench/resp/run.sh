#!/usr/bin/env bash
# respkv against redis-server with redis-benchmark, in one run:
#   redis-benchmark -t set,get -n 1000000 -c 50 -P 1 -q   (and -P 16)
# against both servers, then a table of requests per second and ratios.
#
# Environment: N (requests, default 1000000), CLIENTS (default 50),
# PIPELINES (default "1 16"), REPEAT (runs per cell, best kept; default 1),
# RESPKV_PORT (default 16380), REDIS_PORT (default 16390).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-1000000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
REPEAT=${REPEAT:-1}
RESPKV_PORT=${RESPKV_PORT:-16380}
REDIS_PORT=${REDIS_PORT:-16390}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "installing redis-server and redis-tools" >&2
  SUDO=""
  [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/respkv" ./cmd/respkv
"$work/respkv" -addr "127.0.0.1:$RESPKV_PORT" 2>"$work/respkv.log" &
pids+=($!)
(cd "$work" && exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --logfile "$work/redis.log") &
pids+=($!)

for port in "$RESPKV_PORT" "$REDIS_PORT"; do
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null
done

# one PORT P TEST: requests/second of one redis-benchmark run.
one() {
  local r
  r=$(redis-benchmark -p "$1" -t "$3" -n "$N" -c "$CLIENTS" -P "$2" -q --csv 2>/dev/null |
    awk -F'","' 'NR>1 {gsub(/"/,"",$2); print $2; exit}')
  r=${r%.*}
  echo "${r:-0}"
}

echo "redis-benchmark -n $N -c $CLIENTS; $(redis-server --version | cut -d' ' -f1-3); $(nproc) cores"
printf '%-5s %4s %14s %14s %7s\n' test P respkv redis-server ratio
for P in $PIPELINES; do
  for t in set get; do
    a=0 b=0
    for _ in $(seq "$REPEAT"); do # alternate the servers, keep the best of each
      r=$(one "$RESPKV_PORT" "$P" "$t"); [ "$r" -gt "$a" ] && a=$r
      r=$(one "$REDIS_PORT" "$P" "$t"); [ "$r" -gt "$b" ] && b=$r
    done
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-5s %4s %14s %14s %7s\n' "${t^^}" "$P" "$a" "$b" "$ratio"
  done
done
