#!/usr/bin/env bash
# Bounded soak of cmd/respkv: mixed redis-benchmark load (pipelined and not,
# strings commands over a bounded keyspace) plus clients that connect and
# disconnect on every request, with the AOF on (appendfsync everysec).
# Samples the server's RSS (/proc/PID/status VmRSS) and open descriptors
# (/proc/PID/fd) every SOAK_INTERVAL seconds and prints a table.
#
# Fails (exit 1) when, after the warm-up (a quarter of the run, at least 10 s):
#   - RSS grows beyond the first post-warm-up sample by more than 25% + 16 MiB;
#   - the descriptor count exceeds the first post-warm-up sample by more than 64
#     (connections come and go, so it fluctuates);
#   - once the load has stopped and every client is gone, the server holds more
#     descriptors than it did idle before the load (a leak), or it no longer
#     answers PING.
#
# Not part of `go test`. Usage: scripts/soak.sh   (SOAK_SECONDS=60 by default)
# Needs redis-benchmark and redis-cli in PATH.
set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_INTERVAL=${SOAK_INTERVAL:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=()
server=

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n $server ]]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

for tool in redis-benchmark redis-cli; do
	command -v "$tool" >/dev/null || { echo "soak: $tool not found" >&2; exit 2; }
done

echo "soak: building respkv"
(cd "$root" && go build -o "$tmp/respkv" ./cmd/respkv)

"$tmp/respkv" -addr 127.0.0.1:0 -aof "$tmp/appendonly.aof" -appendfsync everysec 2>"$tmp/server.log" &
server=$!
addr=
for _ in $(seq 1 200); do
	addr=$(sed -n 's/^respkv: ready to accept connections on //p' "$tmp/server.log" | head -1)
	[[ -n $addr ]] && break
	kill -0 "$server" 2>/dev/null || { echo "soak: respkv exited:" >&2; cat "$tmp/server.log" >&2; exit 1; }
	sleep 0.05
done
[[ -n $addr ]] || { echo "soak: respkv did not start" >&2; exit 1; }
port=${addr##*:}
cli() { redis-cli -p "$port" "$@"; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
fds() { ls "/proc/$server/fd" | wc -l; }
info_field() { cli info "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }

idle_fds=$(fds)
idle_rss=$(rss_kb)
echo "soak: respkv pid $server on port $port; idle: RSS ${idle_rss} kB, ${idle_fds} fds; ${SOAK_SECONDS}s of load"

bench() { redis-benchmark -p "$port" -l -q "$@" >/dev/null 2>&1 & pids+=($!); }
# Pipelined writes and reads over 100k keys, 64-byte values.
bench -c 50 -P 16 -r 100000 -d 64 -t set,get,incr,mset
# Unpipelined, larger values.
bench -c 20 -P 1 -r 100000 -d 512 -t set,get
# Connect/disconnect on every request.
bench -c 30 -k 0 -r 1000 -t ping,set,get
# A few odd commands in a loop (expiry, keys scans, transactions).
(
	i=0
	while true; do
		cli set "soak:ttl:$((i % 5000))" x PX 200 >/dev/null
		cli scan 0 COUNT 100 >/dev/null
		printf 'MULTI\r\nINCR soak:tx\r\nGET soak:tx\r\nEXEC\r\n' | cli >/dev/null
		i=$((i + 1))
	done
) >/dev/null 2>&1 &
pids+=($!)

warm=$(( SOAK_SECONDS / 4 ))
(( warm < 10 )) && warm=10
start=$(date +%s)
fail=0
base_rss= base_fds=
last_cmds=$(info_field stats total_commands_processed)
last_t=$start
printf '%6s %10s %6s %8s %10s %10s\n' "t(s)" "RSS(kB)" "fds" "clients" "ops/s" "AOF(MB)"
while :; do
	sleep "$SOAK_INTERVAL"
	now=$(date +%s)
	el=$(( now - start ))
	kill -0 "$server" 2>/dev/null || { echo "soak: respkv died" >&2; cat "$tmp/server.log" >&2; exit 1; }
	rss=$(rss_kb)
	nfd=$(fds)
	clients=$(info_field clients connected_clients)
	cmds=$(info_field stats total_commands_processed)
	ops=$(( (cmds - last_cmds) / (now > last_t ? now - last_t : 1) ))
	last_cmds=$cmds last_t=$now
	aof=$(( $(stat -c %s "$tmp/appendonly.aof") / 1048576 ))
	note=
	if (( el >= warm )); then
		if [[ -z $base_rss ]]; then
			base_rss=$rss base_fds=$nfd
			note="  <- baseline"
		else
			if (( rss > base_rss * 125 / 100 + 16384 )); then
				note="  RSS beyond bound $(( base_rss * 125 / 100 + 16384 ))"
				fail=1
			fi
			if (( nfd > base_fds + 64 )); then
				note="$note  fds beyond bound $(( base_fds + 64 ))"
				fail=1
			fi
		fi
	fi
	printf '%6d %10d %6d %8s %10d %10d%s\n' "$el" "$rss" "$nfd" "$clients" "$ops" "$aof" "$note"
	(( el >= SOAK_SECONDS )) && break
done

# Stop the load and wait (bounded) for every connection to be gone.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
after=
for _ in $(seq 1 100); do
	after=$(fds)
	(( after <= idle_fds )) && break
	sleep 0.1
done
pong=$(cli ping || true)
echo "soak: after the load: ${after} fds (idle before: ${idle_fds}), RSS $(rss_kb) kB, PING -> ${pong}"
if (( after > idle_fds )); then
	echo "soak: FAIL: descriptors leaked: ${after} open after the load, ${idle_fds} before" >&2
	fail=1
fi
if [[ $pong != PONG ]]; then
	echo "soak: FAIL: no PONG after the load" >&2
	fail=1
fi
if grep -qiE 'panic|error' "$tmp/server.log"; then
	echo "soak: server log:" >&2
	cat "$tmp/server.log" >&2
	fail=1
fi
if (( fail )); then
	echo "soak: FAIL" >&2
	exit 1
fi
echo "soak: PASS (RSS bound: baseline +25% +16 MiB; fds bound: baseline +64; no fd left after the load)"
