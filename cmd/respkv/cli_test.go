package main

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestRedisCLI is a smoke test through the real redis-cli and
// redis-benchmark (Debian's redis-tools, which .ci/run installs). It fails
// when they are missing.
func TestRedisCLI(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found: install redis-tools (.ci/run does)")
	}
	addr := startServer(t, Config{})
	_, port, _ := net.SplitHostPort(addr)
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"-h", "127.0.0.1", "-p", port}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimRight(string(out), "\n")
	}
	check := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	check(run("", "PING"), "PONG")
	check(run("", "SET", "greeting", "hello world"), "OK")
	check(run("", "GET", "greeting"), "hello world")
	check(run("", "--no-raw", "INCR", "n"), "(integer) 1")
	check(run("", "--no-raw", "MGET", "greeting", "nokey"), "1) \"hello world\"\n2) (nil)")
	check(run("", "foo", "a"), "ERR unknown command 'foo', with args beginning with: 'a' ")
	check(run("SET a 1\nINCR a\nGET a\n"), "OK\n2\n2")
	var pipe strings.Builder
	for range 1000 {
		pipe.WriteString("INCR piped\r\n")
	}
	if out := run(pipe.String(), "--pipe"); !strings.Contains(out, "errors: 0, replies: 1000") {
		t.Errorf("--pipe: %s", out)
	}
	check(run("", "GET", "piped"), "1000")
	check(run("", "--scan", "--pattern", "pipe*"), "piped")
	if out := run("", "INFO", "server"); !strings.Contains(out, "redis_version:"+redisVersion) {
		t.Errorf("INFO: %s", out)
	}
	if out := run("", "--no-raw", "COMMAND", "DOCS", "set"); !strings.Contains(out, "Set the string value of a key") {
		t.Errorf("COMMAND DOCS: %s", out)
	}

	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Fatal("redis-benchmark not found: install redis-tools (.ci/run does)")
	}
	out, err := exec.Command(bench, "-h", "127.0.0.1", "-p", port, "-t", "set,get", "-n", "5000", "-c", "10", "-P", "4", "-q").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SET:") || !strings.Contains(string(out), "GET:") {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
}
