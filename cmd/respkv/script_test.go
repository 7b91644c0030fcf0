package main

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// script is a list of "command -> expected reply" lines, run in order on a
// fresh server. The replies are Redis 7.0's: RESPKV_REFERENCE=host:port runs
// the same script against a real redis-server and compares.
var script = strings.NewReplacer("{X150}", strings.Repeat("x", 150), "{X128}", strings.Repeat("x", 128)).Replace(`
FLUSHALL -> OK
SELECT 0 -> OK
foo a b -> (error) ERR unknown command 'foo', with args beginning with: 'a' 'b' 
foo -> (error) ERR unknown command 'foo', with args beginning with: 
GET -> (error) ERR wrong number of arguments for 'get' command
GET k -> (nil)
SET k v -> OK
GET k -> "v"
SET k v2 GET -> "v"
SET k v3 NX -> (nil)
SET k v3 NX GET -> "v2"
SET k2 v XX -> (nil)
SET k2 v XX GET -> (nil)
SET k v NX XX -> (error) ERR syntax error
SET k v EX 0 -> (error) ERR invalid expire time in 'set' command
SET k v EX -5 -> (error) ERR invalid expire time in 'set' command
SET k v EX abc -> (error) ERR value is not an integer or out of range
SET k v EX 10 PX 10 -> (error) ERR syntax error
SET k v EX 10 KEEPTTL -> (error) ERR syntax error
SET k v EX -> (error) ERR syntax error
SET k v FOO -> (error) ERR syntax error
SET k v EX 9223372036854775807 -> (error) ERR invalid expire time in 'set' command
SET k v EX 100 -> OK
TTL k -> (integer) 100
SET k v KEEPTTL -> OK
TTL k -> (integer) 100
SET k v -> OK
TTL k -> (integer) -1
SET k v PX 100000 -> OK
PTTL k -> ~(integer) 100000
SET k v EXAT 4102444800 -> OK
EXPIRETIME k -> (integer) 4102444800
PEXPIRETIME k -> (integer) 4102444800000
SET k v PXAT 4102444800001 -> OK
PEXPIRETIME k -> (integer) 4102444800001
EXPIRETIME k -> (integer) 4102444800
PERSIST k -> (integer) 1
PERSIST k -> (integer) 0
PERSIST nokey -> (integer) 0
TTL nokey -> (integer) -2
PTTL nokey -> (integer) -2
EXPIRETIME nokey -> (integer) -2
EXPIRETIME k -> (integer) -1
SETNX k x -> (integer) 0
SETNX n1 x -> (integer) 1
SETEX k 0 v -> (error) ERR invalid expire time in 'setex' command
SETEX k x v -> (error) ERR value is not an integer or out of range
SETEX k 100 v -> OK
TTL k -> (integer) 100
PSETEX k 0 v -> (error) ERR invalid expire time in 'psetex' command
PSETEX k 100000 v -> OK
PTTL k -> ~(integer) 100000
GETSET k new -> "v"
TTL k -> (integer) -1
GETSET nokey new -> (nil)
GETDEL nokey -> "new"
GETDEL nokey -> (nil)
GETDEL k -> "new"
EXISTS k -> (integer) 0
SET k v -> OK
GETEX k -> "v"
GETEX k EX 100 -> "v"
TTL k -> (integer) 100
GETEX k PERSIST -> "v"
TTL k -> (integer) -1
GETEX k EX 0 -> (error) ERR invalid expire time in 'getex' command
GETEX k EX 10 PERSIST -> (error) ERR syntax error
GETEX k KEEPTTL -> (error) ERR syntax error
GETEX k NX -> (error) ERR syntax error
GETEX nokey EX 10 -> (nil)
GETEX k PXAT 1 -> "v"
EXISTS k -> (integer) 0
MSET a 1 b 2 c 3 -> OK
MSET a 1 b -> (error) ERR wrong number of arguments for 'mset' command
MGET a b nokey c -> ["1", "2", (nil), "3"]
MSETNX a 1 z 2 -> (integer) 0
EXISTS z -> (integer) 0
MSETNX y 1 z 2 -> (integer) 1
MSETNX y 1 -> (integer) 0
MSETNX y -> (error) ERR wrong number of arguments for 'msetnx' command
APPEND s hello -> (integer) 5
APPEND s " world" -> (integer) 11
GET s -> "hello world"
STRLEN s -> (integer) 11
STRLEN nokey -> (integer) 0
GETRANGE s 0 4 -> "hello"
GETRANGE s -5 -1 -> "world"
GETRANGE s -1 -5 -> ""
GETRANGE s 5 2 -> ""
GETRANGE s 0 1000 -> "hello world"
GETRANGE s -1000 2 -> "hel"
GETRANGE nokey 0 1 -> ""
GETRANGE s x 1 -> (error) ERR value is not an integer or out of range
SETRANGE s 6 Redis -> (integer) 11
GET s -> "hello Redis"
SETRANGE s 15 x -> (integer) 16
GET s -> "hello Redis\x00\x00\x00\x00x"
SETRANGE s -1 x -> (error) ERR offset is out of range
SETRANGE s 536870912 x -> (error) ERR string exceeds maximum allowed size (proto-max-bulk-len)
SETRANGE s 536870911 "" -> (integer) 16
SETRANGE nokey 5 "" -> (integer) 0
EXISTS nokey -> (integer) 0
SETRANGE nr 2 ab -> (integer) 4
GET nr -> "\x00\x00ab"
SET n 10 -> OK
INCR n -> (integer) 11
DECR n -> (integer) 10
INCRBY n 5 -> (integer) 15
DECRBY n 20 -> (integer) -5
INCRBY n x -> (error) ERR value is not an integer or out of range
INCR s -> (error) ERR value is not an integer or out of range
INCR newn -> (integer) 1
DECR newn2 -> (integer) -1
SET n 9223372036854775807 -> OK
INCR n -> (error) ERR increment or decrement would overflow
SET n -9223372036854775808 -> OK
DECR n -> (error) ERR increment or decrement would overflow
DECRBY n -9223372036854775808 -> (error) ERR decrement would overflow
SET n " 1" -> OK
INCR n -> (error) ERR value is not an integer or out of range
SET n 01 -> OK
INCR n -> (error) ERR value is not an integer or out of range
SET f 10.50 -> OK
INCRBYFLOAT f 0.1 -> "10.6"
INCRBYFLOAT f -5 -> "5.6"
INCRBYFLOAT f 2.0e2 -> "205.60000000000000001"
SET f 5.0e3 -> OK
INCRBYFLOAT f 2.0e2 -> "5200"
INCRBYFLOAT f abc -> (error) ERR value is not a valid float
INCRBYFLOAT s 1 -> (error) ERR value is not a valid float
INCRBYFLOAT f inf -> (error) ERR increment would produce NaN or Infinity
INCRBYFLOAT newf 3 -> "3"
SETBIT bits 7 1 -> (integer) 0
SETBIT bits 7 0 -> (integer) 1
SETBIT bits 7 1 -> (integer) 0
GET bits -> "\x01"
GETBIT bits 7 -> (integer) 1
GETBIT bits 6 -> (integer) 0
GETBIT bits 100 -> (integer) 0
GETBIT nokey 1 -> (integer) 0
SETBIT bits 100 1 -> (integer) 0
STRLEN bits -> (integer) 13
GET b -> "2"
SETBIT b 7 1 -> (integer) 0
GET b -> "3"
SETBIT b -1 1 -> (error) ERR bit offset is not an integer or out of range
SETBIT b 4294967296 1 -> (error) ERR bit offset is not an integer or out of range
SETBIT b 1 2 -> (error) ERR bit is not an integer or out of range
SETBIT b 1 x -> (error) ERR bit is not an integer or out of range
GETBIT b x -> (error) ERR bit offset is not an integer or out of range
FLUSHDB -> OK
MSET a 1 b 2 c 3 -> OK
DEL a b nokey -> (integer) 2
UNLINK c -> (integer) 1
DEL a -> (integer) 0
SET a 1 -> OK
EXISTS a a nokey -> (integer) 2
TYPE a -> string
TYPE nokey -> none
KEYS nokey* -> []
RENAME nokey x -> (error) ERR no such key
RENAME a a -> OK
RENAME a b -> OK
GET b -> "1"
EXISTS a -> (integer) 0
SET c 3 -> OK
RENAMENX b c -> (integer) 0
RENAMENX b d -> (integer) 1
RENAMENX d d -> (integer) 0
RENAMENX nokey d -> (error) ERR no such key
SET e 5 EX 100 -> OK
RENAME e f -> OK
TTL f -> (integer) 100
COPY f f -> (error) ERR source and destination objects are the same
COPY f g -> (integer) 1
TTL g -> (integer) 100
COPY f g -> (integer) 0
COPY f g REPLACE -> (integer) 1
COPY nokey g -> (integer) 0
COPY f g DB 16 -> (error) ERR DB index is out of range
COPY f g DB x -> (error) ERR value is not an integer or out of range
COPY f g FOO -> (error) ERR syntax error
COPY f f DB 1 -> (integer) 1
MOVE f 0 -> (error) ERR source and destination objects are the same
MOVE f 1 -> (integer) 0
MOVE f 16 -> (error) ERR DB index is out of range
MOVE f x -> (error) ERR value is not an integer or out of range
MOVE g 2 -> (integer) 1
MOVE nokey 2 -> (integer) 0
EXISTS g -> (integer) 0
DBSIZE -> (integer) 3
SELECT 2 -> OK
GET g -> "5"
TTL g -> (integer) 100
DBSIZE -> (integer) 1
SELECT 16 -> (error) ERR DB index is out of range
SELECT -1 -> (error) ERR DB index is out of range
SELECT x -> (error) ERR value is not an integer or out of range
SWAPDB 0 2 -> OK
DBSIZE -> (integer) 3
SWAPDB 0 x -> (error) ERR invalid second DB index
SWAPDB x 0 -> (error) ERR invalid first DB index
SWAPDB 0 16 -> (error) ERR DB index is out of range
FLUSHDB -> OK
FLUSHDB ASYNC -> OK
FLUSHDB FOO -> (error) ERR syntax error
SELECT 0 -> OK
FLUSHALL SYNC -> OK
DBSIZE -> (integer) 0
RANDOMKEY -> (nil)
SET only 1 -> OK
RANDOMKEY -> "only"
SCAN 0 -> ["0", ["only"]]
SCAN 0 MATCH o* COUNT 100 TYPE string -> ["0", ["only"]]
SCAN 0 TYPE hash -> ["0", []]
SCAN 0 MATCH x* -> ["0", []]
SCAN x -> (error) ERR invalid cursor
SCAN 0 COUNT 0 -> (error) ERR syntax error
SCAN 0 COUNT x -> (error) ERR value is not an integer or out of range
SCAN 0 FOO bar -> (error) ERR syntax error
SCAN 0 COUNT -> (error) ERR syntax error
KEYS * -> ["only"]
KEYS o?ly -> ["only"]
KEYS o[mn]ly -> ["only"]
KEYS o[^n]ly -> []
EXPIRE only 100 -> (integer) 1
TTL only -> (integer) 100
EXPIRE only 100 NX -> (integer) 0
EXPIRE only 200 XX -> (integer) 1
EXPIRE only 50 GT -> (integer) 0
EXPIRE only 300 GT -> (integer) 1
EXPIRE only 400 LT -> (integer) 0
EXPIRE only 10 LT -> (integer) 1
TTL only -> (integer) 10
EXPIRE only 10 NX XX -> (error) ERR NX and XX, GT or LT options at the same time are not compatible
EXPIRE only 10 GT LT -> (error) ERR GT and LT options at the same time are not compatible
EXPIRE only 10 FOO -> (error) ERR Unsupported option FOO
EXPIRE only x -> (error) ERR value is not an integer or out of range
EXPIRE only 9223372036854775807 -> (error) ERR invalid expire time in 'expire' command
PEXPIRE only 9223372036854775807 -> (error) ERR invalid expire time in 'pexpire' command
EXPIRE nokey 10 -> (integer) 0
PERSIST only -> (integer) 1
EXPIRE only 10 XX -> (integer) 0
EXPIRE only 10 GT -> (integer) 0
EXPIRE only 10 LT -> (integer) 1
PEXPIRE only 100000 -> (integer) 1
PTTL only -> ~(integer) 100000
EXPIREAT only 4102444800 -> (integer) 1
EXPIRETIME only -> (integer) 4102444800
PEXPIREAT only 4102444800000 -> (integer) 1
PEXPIRETIME only -> (integer) 4102444800000
EXPIRE only -1 -> (integer) 1
EXISTS only -> (integer) 0
SET only 1 -> OK
PEXPIREAT only 1 -> (integer) 1
GET only -> (nil)
SET only 1 -> OK
EXPIREAT only 1 -> (integer) 1
DBSIZE -> (integer) 0
MULTI -> OK
SET t 1 -> QUEUED
INCR t -> QUEUED
GET t -> QUEUED
EXEC -> [OK, (integer) 2, "2"]
EXEC -> (error) ERR EXEC without MULTI
DISCARD -> (error) ERR DISCARD without MULTI
MULTI -> OK
MULTI -> (error) ERR MULTI calls can not be nested
SET t 5 -> QUEUED
DISCARD -> OK
GET t -> "2"
MULTI -> OK
SET t 5 -> QUEUED
GET -> (error) ERR wrong number of arguments for 'get' command
nosuch -> (error) ERR unknown command 'nosuch', with args beginning with: 
EXEC -> (error) EXECABORT Transaction discarded because of previous errors.
GET t -> "2"
MULTI -> OK
SET s x -> QUEUED
INCR s -> QUEUED
SET t 9 -> QUEUED
EXEC -> [OK, (error) ERR value is not an integer or out of range, OK]
GET t -> "9"
MULTI -> OK
WATCH t -> (error) ERR WATCH inside MULTI is not allowed
EXEC -> []
WATCH t -> OK
UNWATCH -> OK
PING -> PONG
PING hello -> "hello"
PING a b -> (error) ERR wrong number of arguments for 'ping' command
ECHO hi -> "hi"
ECHO -> (error) ERR wrong number of arguments for 'echo' command
CLIENT -> (error) ERR wrong number of arguments for 'client' command
CLIENT foo -> (error) ERR unknown subcommand 'foo'. Try CLIENT HELP.
CLIENT SETNAME -> (error) ERR wrong number of arguments for 'client|setname' command
CLIENT SETNAME "a b" -> (error) ERR Client names cannot contain spaces, newlines or special characters.
CLIENT SETNAME myname -> OK
CLIENT GETNAME -> "myname"
CLIENT SETNAME "" -> OK
CLIENT GETNAME -> (nil)
CONFIG foo -> (error) ERR unknown subcommand 'foo'. Try CONFIG HELP.
CONFIG GET -> (error) ERR wrong number of arguments for 'config|get' command
CONFIG GET save -> ["save", ""]
CONFIG GET appendonly -> ["appendonly", "no"]
CONFIG GET databases -> ["databases", "16"]
CONFIG GET maxmemory -> ["maxmemory", "0"]
CONFIG GET nosuchparam -> []
COMMAND foo -> (error) ERR unknown subcommand 'foo'. Try COMMAND HELP.
HELLO x -> (error) ERR Protocol version is not an integer or out of range
HELLO 4 -> (error) NOPROTO unsupported protocol version
HELLO 1 -> (error) NOPROTO unsupported protocol version
SET fl 3.0e3 -> OK
INCRBYFLOAT fl 200 -> "3200"
INCRBYFLOAT fl 1.5e-5 -> "3200.0000150000000001"
INCRBYFLOAT fl -3200.0000150000000001 -> "0"
INCRBYFLOAT fl 0.1 -> "0.1"
INCRBYFLOAT fl 0.2 -> "0.3"
INCRBYFLOAT fl 1e30 -> "1000000000000000000024696061952"
INCRBYFLOAT fl " 1" -> (error) ERR value is not a valid float
INCRBYFLOAT fl nan -> (error) ERR value is not a valid float
SET k v PX 9223372036854775807 -> (error) ERR invalid expire time in 'set' command
SET k v KEEPTTL PX 100 -> (error) ERR syntax error
SET k v ex 100 nx -> OK
SET k v get get -> "v"
GETEX k PX 100 EX 100 -> (error) ERR syntax error
GETEX k PERSIST PERSIST -> "v"
EXISTS -> (error) ERR wrong number of arguments for 'exists' command
TYPE -> (error) ERR wrong number of arguments for 'type' command
RANDOMKEY x -> (error) ERR wrong number of arguments for 'randomkey' command
DBSIZE x -> (error) ERR wrong number of arguments for 'dbsize' command
FLUSHALL x -> (error) ERR syntax error
COPY k b DB -> (error) ERR syntax error
MOVE k -1 -> (error) ERR DB index is out of range
SWAPDB 0 0 -> OK
SCAN " 1" -> (error) ERR invalid cursor
SCAN 18446744073709551616 -> (error) ERR invalid cursor
CLIENT ID x -> (error) ERR wrong number of arguments for 'client|id' command
CLIENT LIST TYPE foo -> (error) ERR Unknown client type 'foo'
COMMAND COUNT x -> (error) ERR wrong number of arguments for 'command|count' command
CONFIG GET x y -> []
WATCH -> (error) ERR wrong number of arguments for 'watch' command
UNWATCH x -> (error) ERR wrong number of arguments for 'unwatch' command
ECHO a b -> (error) ERR wrong number of arguments for 'echo' command
TIME x -> (error) ERR wrong number of arguments for 'time' command
SELECT 1 2 -> (error) ERR wrong number of arguments for 'select' command
APPEND k -> (error) ERR wrong number of arguments for 'append' command
GETRANGE s 0 -100 -> "x"
MULTI -> OK
PING -> QUEUED
SELECT 3 -> QUEUED
SET indb3 x -> QUEUED
EXEC -> [PONG, OK, OK]
DBSIZE -> (integer) 1
SELECT 0 -> OK
FLUSHALL -> OK
MSET abc 1 abd 2 xyz 3 a*c 4 -> OK
KEYS a[b]d -> ["abd"]
KEYS a\* -> []
KEYS a\*c -> ["a*c"]
KEYS *[z] -> ["xyz"]
KEYS [ -> []
HELLO 2 SETNAME "a b" -> (error) ERR Client names cannot contain spaces, newlines or special characters.
HELLO 2 FOO -> (error) ERR Syntax error in HELLO option 'FOO'
foo {X150} yyy -> (error) ERR unknown command 'foo', with args beginning with: '{X128}' 
foo a b c -> (error) ERR unknown command 'foo', with args beginning with: 'a' 'b' 'c' 
"foo\r\nbar" a -> (error) ERR unknown command 'foo  bar', with args beginning with: 'a' 
`)

func runScript(t *testing.T, do func(line string) string) {
	for _, raw := range strings.Split(script, "\n") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		cmd, want, ok := strings.Cut(raw, " -> ")
		if !ok {
			t.Fatalf("bad script line %q", raw)
		}
		got := do(cmd)
		if approx, ok := strings.CutPrefix(want, "~(integer) "); ok {
			w, _ := strconv.Atoi(approx)
			g, err := strconv.Atoi(strings.TrimPrefix(got, "(integer) "))
			if err != nil || g > w || g < w-1000 {
				t.Errorf("%s\n   got: %s\n  want: about %s", cmd, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("%s\n   got: %s\n  want: %s", cmd, got, want)
		}
	}
}

func TestScript(t *testing.T) {
	k := newCore(t)
	runScript(t, k.do)
}

// TestScriptAgainstRedis runs the script against a real Redis named by
// RESPKV_REFERENCE (for instance 127.0.0.1:6390); without it, it checks
// nothing. It FLUSHALLs that server.
func TestScriptAgainstRedis(t *testing.T) {
	addr := os.Getenv("RESPKV_REFERENCE")
	if addr == "" {
		return
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	runScript(t, func(line string) string {
		if _, err := nc.Write(resp.AppendCommand(nil, splitLine(t, line)...)); err != nil {
			t.Fatal(err)
		}
		got, err := readReply(r)
		if err != nil {
			t.Fatal(err)
		}
		return got
	})
}
