#!/usr/bin/env bash
# bench/profile.sh: profiles of the loop workloads, for results/profiles-<date>.md.
#
#   bench/profile.sh [-o DIR] [WORKLOAD...]    (default: timers timers-cancel idle-dispatch fd-pingpong many-sources)
#
# 1. Instructions per operation, user space, with valgrind --tool=callgrind: each program runs
#    the workload at two sizes N1 < N2 and the difference of the instruction counts divided by
#    N2 - N1 is the cost of one operation with start-up, set-up and tear-down cancelled out.
#    Counted instructions do not depend on the machine's load, so these are the figures to use
#    for before/after claims. Kernel time is not counted (valgrind sees user space only): a
#    system call is a handful of instructions here however long the kernel takes.
#    Done for loopbench (go) and the C anchors (epoll floor, libuv) from bench/anchors.
#    Under valgrind everything runs ~50x slower, so timers are all due by the time the loop
#    runs: the timers figures measure insert + cancel + fire in bulk, not the sleeping.
# 2. A CPU profile (pprof) of loopbench at the full N, and the top of it.
# 3. The callgrind profile of go's larger run, annotated (inclusive), for the hot functions.
#
# Needs valgrind (apt-get install valgrind) and the anchors built (bench/anchors/run --build-only).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT=""
while getopts "o:h" o; do
    case "$o" in
    o) OUT="$OPTARG" ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
WLS=("$@")
[ ${#WLS[@]} -gt 0 ] || WLS=(timers timers-cancel idle-dispatch fd-pingpong many-sources)
OUT="${OUT:-$(mktemp -d /tmp/bench-profile.XXXXXX)}"
mkdir -p "$OUT/bin"
log() { printf 'profile: %s\n' "$*" >&2; }
command -v valgrind >/dev/null || { log "valgrind missing: apt-get install valgrind"; exit 1; }
(cd "$HERE" && go build -o "$OUT/bin/" ./cmd/loopbench)
ABIN="${ANCHORS_BUILD_DIR:-/tmp/calloop-go-anchors}/bin"
[ -x "$ABIN/epoll-anchor" ] || "$HERE/anchors/run" --build-only >&2
log "output in $OUT"

sizes() {
    case "$1" in
    timers | timers-cancel) echo "20000 60000" ;;
    idle-dispatch) echo "20000 60000" ;; # under valgrind a run must finish within its 1 s bound
    fd-pingpong) echo "20000 60000" ;;
    many-sources) echo "20000 60000" ;;
    *) echo "20000 60000" ;;
    esac
}
# irs BIN ARGS...: total instructions (Ir) of one run under callgrind.
irs() {
    local f="$OUT/cg.$$.$RANDOM"
    GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$f" "$@" >/dev/null 2>"$f.log" || {
        log "failed: $* (see $f.log)"; echo 0; return; }
    # A run cut short by its time bound (idle-dispatch) did fewer operations
    # than asked, and the difference of two runs would be wrong.
    if grep -q "stopped after" "$f.log"; then
        log "cut short, no figure: $* ($(grep -m1 'stopped after' "$f.log"))"; echo 0; return
    fi
    awk '/^summary:|^totals:/{print $2; exit}' "$f"
    echo "$f" >>"$OUT/cgfiles"
}
: >"$OUT/cgfiles"
for w in "${WLS[@]}"; do
    read -r n1 n2 < <(sizes "$w")
    for impl in go epoll libuv; do
        if [ $impl = go ]; then bin=("$OUT/bin/loopbench"); else bin=("$ABIN/$impl-anchor"); fi
        a=$(irs "${bin[@]}" -r 1 -n "$n1" "$w")
        b=$(irs "${bin[@]}" -r 1 -n "$n2" "$w")
        last=$(tail -1 "$OUT/cgfiles")
        [ $impl = go ] && cp "$last" "$OUT/callgrind.$w.go"
        awk -v w="$w" -v i="$impl" -v a="$a" -v b="$b" -v n1="$n1" -v n2="$n2" \
            'BEGIN { if (a == 0 || b == 0) { printf "IR %s %s n/a (a run failed or was cut short)\n", w, i; exit }
                     printf "IR %s %s %.1f instructions/op (callgrind, N %d vs %d)\n", w, i, (b - a) / (n2 - n1), n1, n2 }' | tee -a "$OUT/ir.txt"
    done
    if [ "${TIMERFN_SHARED:-1}" = 1 ] && { [ "$w" = timers ] || [ "$w" = timers-cancel ]; }; then
        a=$(irs "$OUT/bin/loopbench" -timerfn shared -r 1 -n "$n1" "$w")
        b=$(irs "$OUT/bin/loopbench" -timerfn shared -r 1 -n "$n2" "$w")
        awk -v w="$w" -v a="$a" -v b="$b" -v n1="$n1" -v n2="$n2" \
            'BEGIN { printf "IR %s go-shared-callback %.1f instructions/op (callgrind, N %d vs %d; no closure per timer)\n", w, (b - a) / (n2 - n1), n1, n2 }' | tee -a "$OUT/ir.txt"
    fi
    callgrind_annotate --inclusive=yes "$OUT/callgrind.$w.go" 2>/dev/null | head -45 >"$OUT/callgrind.$w.top.txt" || true
    "$OUT/bin/loopbench" -r 1 -cpuprofile "$OUT/$w.cpu" "$w" >/dev/null 2>>"$OUT/pprof.log" || true
    go tool pprof -top -nodecount=30 "$OUT/bin/loopbench" "$OUT/$w.cpu" >"$OUT/$w.pprof.txt" 2>/dev/null || true
    log "$w done"
done
rm -f "$OUT"/cg.*
log "instructions per op: $OUT/ir.txt; pprof tops: $OUT/*.pprof.txt; callgrind tops: $OUT/callgrind.*.top.txt"
