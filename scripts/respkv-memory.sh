#!/bin/sh
# respkv-memory.sh: peak memory (VmHWM, the process's peak RSS) of respkv and
# of redis-server for the cases of issue 9, each on a fresh server, in one
# run so that the figures compare:
#
#   set500     one SET of a 500 MiB value
#   set500aof  the same with the AOF on (appendfsync everysec)
#   set500x3   three such SETs at once, from three clients
#   mget12     SET of a 100 MiB value, then MGET of it 12 times (1.2 GiB reply)
#   keys1m     1,000,000 SETs of small keys (key:0000001 = 3 bytes), pipelined
#
# Usage: scripts/respkv-memory.sh [case ...]   (default: all)
# Needs: go, python3, redis-server (7.0). Uses about 6 GB of memory at peak.
# Output: a Markdown table, MiB; the ratio is peak RSS over the data held
# or sent (for keys1m, the RSS after the load is given too).
set -eu
cd "$(dirname "$0")/.."
cases=${*:-set500 set500aof set500x3 mget12 keys1m}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/respkv" ./cmd/respkv
port=$((20000 + $$ % 10000))
pid=

cat >"$tmp/client.py" <<'EOF'
import socket, sys, threading

def conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def readn(s, n):
    got = 0
    while got < n:
        b = s.recv(min(n - got, 1 << 20))
        if not b:
            raise SystemExit("connection closed after %d of %d bytes" % (got, n))
        got += len(b)

def readline(s):
    b = b""
    while not b.endswith(b"\r\n"):
        c = s.recv(1)
        if not c:
            raise SystemExit("connection closed")
        b += c
    return b

def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def bigset(port, key, size):
    s = conn(port)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, size))
    chunk = b"x" * (1 << 20)
    left = size
    while left > 0:
        n = min(left, len(chunk))
        s.sendall(chunk[:n])
        left -= n
    s.sendall(b"\r\n")
    r = readline(s)
    if r != b"+OK\r\n":
        raise SystemExit("SET: %r" % r)
    s.close()

def main():
    port, case = int(sys.argv[1]), sys.argv[2]
    mib = 1 << 20
    if case in ("set500", "set500aof"):
        bigset(port, b"big", 500 * mib)
    elif case == "set500x3":
        ts = [threading.Thread(target=bigset, args=(port, b"big%d" % i, 500 * mib)) for i in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
    elif case == "mget12":
        bigset(port, b"v", 100 * mib)
        s = conn(port)
        s.sendall(cmd(b"MGET", *([b"v"] * 12)))
        if readline(s) != b"*12\r\n":
            raise SystemExit("MGET")
        for _ in range(12):
            readline(s)
            readn(s, 100 * mib + 2)
        s.close()
    elif case == "keys1m":
        s = conn(port)
        batch = 10000
        for b in range(100):
            s.sendall(b"".join(cmd(b"SET", b"key:%07d" % (b * batch + i), b"xxx") for i in range(batch)))
            readn(s, 5 * batch)
        s.close()

main()
EOF

# rss PID FIELD: the field of /proc/PID/status in MiB
rss() { awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

start() { # start NAME CASE: a fresh server on $port, pid in $pid
	port=$((port + 1))
	rm -rf "$tmp/dir" && mkdir "$tmp/dir"
	aof=no
	[ "$2" = set500aof ] && aof=yes
	case $1 in
	respkv) "$tmp/respkv" -addr "127.0.0.1:$port" -appendonly $aof -dir "$tmp/dir" 2>"$tmp/log" & ;;
	redis) redis-server --port "$port" --save "" --appendonly $aof --dir "$tmp/dir" --daemonize no --loglevel warning >"$tmp/log" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 100); do
		if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null; then
			return
		fi
		sleep 0.1
	done
	echo "$1 did not start" >&2
	cat "$tmp/log" >&2
	exit 1
}

data() { # data CASE: MiB held or sent
	case $1 in
	set500 | set500aof) echo 500 ;;
	set500x3) echo 1500 ;;
	mget12) echo 100 ;;
	keys1m) echo 0 ;;
	esac
}

echo "| case | respkv peak RSS | redis-server peak RSS | respkv / data | redis / data |"
echo "|---|---|---|---|---|"
for c in $cases; do
	line="| $c |"
	ratios=""
	for srv in respkv redis; do
		start $srv "$c"
		ok=1
		python3 "$tmp/client.py" "$port" "$c" >&2 || ok=0
		peak=$(rss $pid VmHWM)
		now=$(rss $pid VmRSS)
		kill $pid
		wait $pid 2>/dev/null || true
		d=$(data "$c")
		if [ $ok = 0 ]; then
			line="$line failed ($peak MiB) |"
			ratios="$ratios |"
		elif [ "$d" -gt 0 ]; then
			line="$line $peak MiB |"
			ratios="$ratios $(awk -v p="$peak" -v d="$d" 'BEGIN { printf "%.2f", p / d }') |"
		else
			line="$line $peak MiB (after: $now MiB) |"
			ratios="$ratios |"
		fi
	done
	echo "$line$ratios"
done
