#!/usr/bin/env bash
# RSS of respkv and redis-server after loading one sorted set of N members
# (default 1,000,000: ZADD of 100 random scores and members per command,
# through redis-cli --pipe), each on a fresh server without persistence.
# Usage: scripts/respkv-zset-memory.sh [N]
set -euo pipefail
n=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$root" && go build -o "$tmp/respkv" ./cmd/respkv)
awk -v n="$n" 'BEGIN {
	srand(1)
	for (b = 0; b < n; b += 100) {
		m = (n - b < 100) ? n - b : 100
		printf "*%d\r\n$4\r\nZADD\r\n$3\r\nbig\r\n", 2 + 2 * m
		for (i = b; i < b + m; i++) {
			s = sprintf("%.3f", rand() * 1000000)
			e = "element:" i
			printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(s), s, length(e), e
		}
	}
}' > "$tmp/load.resp"
rss() { awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$1/status"; }
measure() { # name port pid
	redis-cli -p "$2" --pipe < "$tmp/load.resp" > /dev/null
	sleep 2
	printf '| %s | %s | %s | %s MiB |\n' "$1" "$(redis-cli -p "$2" zcard big)" "$(redis-cli -p "$2" object encoding big)" "$(rss "$3")"
}
port1=$((20000 + RANDOM % 10000)); port2=$((port1 + 1))
"$tmp/respkv" --port "$port1" > "$tmp/respkv.log" 2>&1 & pids+=($!)
redis-server --port "$port2" --save '' --appendonly no > "$tmp/redis.log" 2>&1 & pids+=($!)
for p in "$port1" "$port2"; do
	for _ in $(seq 100); do redis-cli -p "$p" ping > /dev/null 2>&1 && break; sleep 0.1; done
done
echo "| server | members | encoding | RSS after load |"
echo "|---|---|---|---|"
measure respkv "$port1" "${pids[0]}"
measure "redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)" "$port2" "${pids[1]}"
