#!/usr/bin/env bash
# bench/multicore.sh: tcp-echo with N event loops in one server process sharing the port with
# SO_REUSEPORT, calloop's stream package (go-stream) against gnet, N = 1 and 2 by default.
#
#   bench/multicore.sh [-d SECONDS] [-r REPS] [-n "1 2"]
#
# For each round, N and server (interleaved, so a noisy minute hits both alike) it starts
# `echoserver -impl=IMPL -loops N`, runs `tcpload -c 50N` (one-thread epoll client) and
# measures, over the measured window only, the CPU time of the server and of the client
# (/proc/PID/stat) and the machine's softirq time (/proc/stat), so that the cost of a request
# can be split into server, client and kernel-softirq parts. Prints one line per run:
#
#   MC <impl> loops=<N> conns=<C> req/s=<R> server_us/req=<..> client_us/req=<..> softirq_us/req=<..> busy=<..>
#
# and a summary (best req/s per impl and N) at the end. busy is the fraction of all CPUs that
# were not idle during the window (other users of the machine included).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DUR=10 REPS=2 NS="1 2"
ADDR="${MC_ADDR:-127.0.0.1:17721}"
while getopts "d:r:n:h" o; do
    case "$o" in
    d) DUR="$OPTARG" ;;
    r) REPS="$OPTARG" ;;
    n) NS="$OPTARG" ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
log() { printf 'multicore: %s\n' "$*" >&2; }

OUT="${MC_OUT:-$(mktemp -d /tmp/bench-multicore.XXXXXX)}"
mkdir -p "$OUT/bin"
(cd "$HERE" && go build -o "$OUT/bin/" ./cmd/echoserver ./cmd/tcpload) || { log "go build failed"; exit 1; }
log "output in $OUT"

TCK=$(getconf CLK_TCK)
durs="${DUR%s}"
case "$durs" in '' | *[!0-9]*) log "-d takes whole seconds"; exit 2 ;; esac
pcpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime+stime, ticks
# /proc/stat first line: cpu user nice system idle iowait irq softirq steal ...
sysstat() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6, $8}' /proc/stat; }

srv=""
cleanup() { if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi; }
trap cleanup EXIT

{
    echo "META date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "META machine $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), kernel $(uname -r)"
    echo "META go $(go version | awk '{print $3}'), GOMAXPROCS ${GOMAXPROCS:-default ($(nproc))}"
    echo "META library $(cd "$HERE/.." && git rev-parse --short HEAD)$(cd "$HERE/.." && git diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "META load $(cut -d' ' -f1-3 /proc/loadavg) at the start"
} | tee "$OUT/results.txt"

for rep in $(seq 1 "$REPS"); do
    for n in $NS; do
        for impl in go-stream gnet; do
            conns=$((50 * n))
            "$OUT/bin/echoserver" -impl="$impl" -loops "$n" -addr "$ADDR" >"$OUT/srv.out" 2>>"$OUT/echoserver.log" &
            srv=$!
            for _ in $(seq 1 100); do grep -q '^READY' "$OUT/srv.out" && break; sleep 0.05; done
            grep -q '^READY' "$OUT/srv.out" || { log "$impl -loops $n did not start"; cleanup; srv=""; continue; }
            # The client runs 1 s longer than the CPU sampling window, so that both ends of the
            # window see it alive; req/s is its own (whole measured run).
            "$OUT/bin/tcpload" -impl "$impl" -addr "$ADDR" -c "$conns" -d "$((durs + 1))s" >"$OUT/load.out" 2>>"$OUT/tcpload.log" &
            cl=$!
            sleep 0.6 # the 0.5 s warm-up
            s0=$(pcpu "$srv") c0=$(pcpu "$cl")
            read -r t0 i0 q0 < <(sysstat)
            sleep "$durs"
            s1=$(pcpu "$srv") c1=$(pcpu "$cl")
            read -r t1 i1 q1 < <(sysstat)
            wait "$cl" || log "tcpload failed for $impl -loops $n"
            rps=$(awk '/^BENCH/{print $4}' "$OUT/load.out")
            cleanup; srv=""
            [ -n "$rps" ] || continue
            awk -v impl="$impl" -v n="$n" -v c="$conns" -v r="$rps" -v d="$durs" -v tck="$TCK" \
                -v s="$((s1 - s0))" -v cc="$((c1 - c0))" -v t="$((t1 - t0))" -v i="$((i1 - i0))" -v q="$((q1 - q0))" \
                'BEGIN { req = r * d; us = 1e6 / tck;
                         printf "MC %s loops=%d conns=%d req/s=%.0f server_us/req=%.2f client_us/req=%.2f softirq_us/req=%.2f busy=%.2f\n",
                           impl, n, c, r, s * us / req, cc * us / req, q * us / req, (t - i) / t }' | tee -a "$OUT/results.txt"
            sleep 0.5
        done
    done
done
echo "META load-end $(cut -d' ' -f1-3 /proc/loadavg) at the end" | tee -a "$OUT/results.txt"
log "best per server and N:"
awk '/^MC/ { split($5, a, "="); k = $2 " " $3; if (a[2] + 0 > best[k] + 0) { best[k] = a[2]; line[k] = $0 } }
     END { for (k in line) print "BEST " substr(line[k], 4) }' "$OUT/results.txt" | sort | tee -a "$OUT/results.txt"
