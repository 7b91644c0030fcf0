#!/usr/bin/env bash
# defaultset.sh: redis-benchmark's default test set (no -t) against
# respkv and redis-server, alternating the servers run by run, and a table
# of requests per second and their ratio.
#
#   bench/resp/defaultset.sh [-n REQUESTS] [-p "1 16"] [-r ROUNDS]
#
# Defaults: -n 1000000, pipelines 1 and 16, one round, 50 clients. Each
# server is started fresh for each run (no persistence) on a free port.
# The table goes to standard output; raw redis-benchmark output to
# $OUT (default a temporary directory). Needs Go, python3, redis-server and
# redis-benchmark (Debian: redis-server redis-tools).
set -euo pipefail
n=1000000 pipes="1 16" rounds=1 clients=50
while getopts n:p:r:c: o; do
	case $o in
	n) n=$OPTARG ;;
	p) pipes=$OPTARG ;;
	r) rounds=$OPTARG ;;
	c) clients=$OPTARG ;;
	*) exit 2 ;;
	esac
done
cd "$(dirname "$0")/../.."
for c in redis-server redis-benchmark redis-cli; do
	command -v $c >/dev/null || { echo "defaultset: $c not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
OUT=${OUT:-$(mktemp -d)}
go build -o "$OUT/respkv" ./cmd/respkv

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # name port
	case $1 in
	respkv) "$OUT/respkv" --port "$2" >"$OUT/respkv.log" 2>&1 & ;;
	redis) redis-server --port "$2" --save '' --appendonly no >"$OUT/redis.log" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && return; sleep 0.1; done
	echo "defaultset: $1 did not start" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
trap 'stop' EXIT

echo "# redis-benchmark -q -n $n -c $clients, default test set; $(date -u '+%F %T') UTC"
echo "# $(uname -srm), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(redis-server --version | cut -d' ' -f1-3), respkv $(git rev-parse --short HEAD)"
for r in $(seq "$rounds"); do
	for P in $pipes; do
		for srv in respkv redis; do
			port=$(freeport)
			start $srv "$port"
			redis-benchmark -q -n "$n" -c "$clients" -P "$P" -p "$port" 2>&1 | tr '\r' '\n' |
				grep 'requests per second' >"$OUT/$srv-P$P-r$r.txt" || true
			stop
		done
	done
done
for P in $pipes; do
	echo
	echo "| test (-P $P) | respkv req/s | redis-server req/s | respkv/redis |"
	echo "|---|---:|---:|---:|"
	python3 - "$OUT" "$P" "$rounds" <<'PY'
import sys, statistics, re
out, P, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(srv):
    res = {}
    order = []
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{srv}-P{P}-r{r}.txt"):
            m = re.match(r"\s*(\S.*?): ([\d.]+) requests per second", line)
            if not m:
                continue
            name = m.group(1)
            # LPUSH runs twice (the second fills the list for LRANGE).
            k = name
            while k in res and len(res[k]) >= r:
                k += "'"
            res.setdefault(k, []).append(float(m.group(2)))
            if k not in order:
                order.append(k)
    return res, order
a, order = load("respkv")
b, _ = load("redis")
worst = None
for k in order:
    x = statistics.median(a[k])
    y = statistics.median(b.get(k, [0])) if k in b else 0
    ratio = x / y if y else float("nan")
    worst = ratio if worst is None or ratio < worst else worst
    print(f"| {k.rstrip(chr(39))} | {x:,.0f} | {y:,.0f} | {ratio:.2f} |")
print(f"\nlowest ratio at -P {P}: {worst:.2f}; tests run by respkv: {len(order)}, by redis-server: {len(b)}")
PY
done
