package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop/internal/leakcheck"
	"github.com/redis/go-redis/v9"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

// TestMain removes the binary built for the subprocess tests.
func TestMain(m *testing.M) {
	code := leakcheck.Run(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds respkv once for the tests that run it as a subprocess.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "respkv-test")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "respkv")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// proc is respkv running as a subprocess.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr []string
	done   chan struct{}
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, args...)
}

// startProcEnv is startProc with extra environment variables.
func startProcEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr = append(p.stderr, line)
			p.mu.Unlock()
			if a, ok := strings.CutPrefix(stripStamp(line), "respkv: ready to accept connections on "); ok {
				ready <- a
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	select {
	case p.addr = <-ready:
	case <-p.done:
		t.Fatalf("respkv exited: %s", p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("respkv did not start: %s", p.log())
	}
	return p
}

func (p *proc) log() string {
	<-time.After(0)
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// kill9 kills the process without warning.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	p.cmd.Wait()
	<-p.done
}

// dump returns every key and value of every database, with a TTL marker.
func dump(t *testing.T, addr string) string {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1})
	defer rdb.Close()
	conn := rdb.Conn()
	defer conn.Close()
	var lines []string
	for db := range numDBs {
		if err := conn.Select(ctx, db).Err(); err != nil {
			t.Fatal(err)
		}
		keys := must(conn.Keys(ctx, "*").Result())
		for _, k := range keys {
			v, err := conn.Get(ctx, k).Result()
			if err == redis.Nil {
				continue // expired meanwhile
			}
			if err != nil {
				t.Fatal(err)
			}
			ttl := must(conn.TTL(ctx, k).Result())
			mark := ""
			if ttl > 0 {
				mark = " (ttl)"
			}
			lines = append(lines, fmt.Sprintf("%d %q=%q%s", db, k, v, mark))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// writeWorkload runs a mix of writes, all acknowledged, and returns nothing:
// the keyspace is compared with dump.
func writeWorkload(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 8})
	defer rdb.Close()
	conn := rdb.Conn()
	defer conn.Close()
	for i := range 200 {
		if err := conn.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		conn.Incr(ctx, "counter")
		conn.Append(ctx, "log", fmt.Sprint(i%10))
		conn.IncrByFloat(ctx, "float", 0.25)
	}
	conn.Del(ctx, "k1", "k2")
	conn.Rename(ctx, "k3", "renamed")
	conn.Set(ctx, "ttl", "v", time.Hour)
	conn.Expire(ctx, "k4", time.Hour)
	conn.Set(ctx, "gone", "v", 50*time.Millisecond)
	conn.SetBit(ctx, "bits", 13, 1)
	conn.SetRange(ctx, "k5", 4, "xyz")
	conn.Select(ctx, 2)
	conn.Set(ctx, "in2", "two", 0)
	conn.Copy(ctx, "in2", "in3", 3, false)
	conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "tx1", "a", 0)
		p.Incr(ctx, "tx2")
		return nil
	})
	conn.Select(ctx, 0)
	conn.Move(ctx, "k6", 5)
	// concurrent clients, pipelined
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipe := rdb.Pipeline()
			for i := range 100 {
				pipe.Set(ctx, fmt.Sprintf("g%d:%d", g, i), i, 0)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// "gone" has expired before anyone compares keyspaces.
	waitFor(t, 10*time.Second, "expiry of gone", func() bool { return rdb.Exists(ctx, "gone").Val() == 0 })
}

func TestAOFAlwaysKill9(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "appendonly.aof")
	p := startProc(t, "-aof", path, "-appendfsync", "always")
	writeWorkload(t, p.addr)
	before := dump(t, p.addr)
	p.kill9(t)

	p2 := startProc(t, "-aof", path, "-appendfsync", "always")
	after := dump(t, p2.addr)
	if before != after {
		t.Fatalf("keyspace differs after kill -9 and restart:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(after, `0 "counter"="50"`) || !strings.Contains(after, `0 "float"="12.5"`) || !strings.Contains(after, `3 "in3"="two"`) || !strings.Contains(after, `0 "ttl"="v" (ttl)`) {
		t.Fatalf("unexpected keyspace:\n%s", after)
	}
	if strings.Contains(after, `"gone"`) {
		t.Fatalf("expired key came back:\n%s", after)
	}
}

func TestAOFGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "appendonly.aof")
	for _, policy := range []string{"everysec", "no"} {
		os.Remove(path)
		p := startProc(t, "-aof", path, "-appendfsync", policy)
		writeWorkload(t, p.addr)
		before := dump(t, p.addr)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("%s: exit after SIGTERM: %v\n%s", policy, err, p.log())
		}
		p2 := startProc(t, "-aof", path, "-appendfsync", policy)
		if after := dump(t, p2.addr); before != after {
			t.Fatalf("%s: keyspace differs after restart:\nbefore:\n%s\nafter:\n%s", policy, before, after)
		}
		p2.kill9(t)
	}
}

func TestAOFTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "appendonly.aof")
	p := startProc(t, "-aof", path, "-appendfsync", "always")
	writeWorkload(t, p.addr)
	before := dump(t, p.addr)
	p.kill9(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$10\r\nabc",                       // a record cut short
		"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\ny\r\n$1\r\n1\r\n", // a transaction without EXEC
	} {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(tail)
		f.Close()
		p2 := startProc(t, "-aof", path)
		if after := dump(t, p2.addr); before != after {
			t.Fatalf("keyspace differs:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if log := p2.log(); !strings.Contains(log, "Truncating the AOF") {
			t.Errorf("no warning about the torn tail: %s", log)
		}
		p2.kill9(t)
		// The torn tail is gone; what follows the original content is what
		// the restarted server logged (DELs of keys that expired meanwhile).
		data, err := os.ReadFile(path)
		if err != nil || !strings.HasPrefix(string(data), string(orig)) || strings.Contains(string(data[len(orig):]), tail) {
			t.Fatalf("torn tail not cut: %v\n%q", err, data[min(len(orig), len(data)):])
		}
		orig = data
	}
	// Garbage in the middle is an error, not a silent loss.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("*1\r\n:garbage\r\n*1\r\n$4\r\nPING\r\n")
	f.Close()
	out, err := exec.Command(binary(t), "-addr", "127.0.0.1:0", "-aof", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Bad file format") && !strings.Contains(string(out), "bad file format") {
		t.Fatalf("corrupt AOF: %v %s", err, out)
	}
}

// TestAOFExpiryIsAbsolute: relative expiries are logged as absolute times,
// so a restart does not extend them.
func TestAOFExpiryIsAbsolute(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "appendonly.aof")
	p := startProc(t, "-aof", path, "-appendfsync", "always")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2})
	rdb.Set(ctx, "short", "v", 300*time.Millisecond)
	rdb.Set(ctx, "long", "v", 0)
	rdb.Expire(ctx, "long", 100*time.Second)
	rdb.Do(ctx, "SETEX", "setex", 100, "v")
	rdb.Close()
	p.kill9(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "PXAT") || !strings.Contains(string(data), "PEXPIREAT") {
		t.Fatalf("AOF without absolute expiries:\n%q", data)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(time.Until(deadline))
	}
	p2 := startProc(t, "-aof", path)
	rdb = redis.NewClient(&redis.Options{Addr: p2.addr, Protocol: 2})
	defer rdb.Close()
	if err := rdb.Get(ctx, "short").Err(); err != redis.Nil {
		t.Errorf("short: %v", err)
	}
	for _, k := range []string{"long", "setex"} {
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 90*time.Second || ttl > 100*time.Second {
			t.Errorf("%s: ttl %v", k, ttl)
		}
	}
}

// TestAOFAlwaysPipelineOrder: with appendfsync always, replies to writes
// wait for the fsync, and the replies of a pipeline keep their order.
func TestAOFAlwaysPipelineOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	addr := startServer(t, Config{AOF: path, AppendFsync: "always"})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1})
			defer rdb.Close()
			pipe := rdb.Pipeline()
			var gets []*redis.StringCmd
			var incrs []*redis.IntCmd
			for i := range 500 {
				key := fmt.Sprintf("o%d:%d", g, i)
				pipe.Set(ctx, key, i, 0)
				gets = append(gets, pipe.Get(ctx, key))
				incrs = append(incrs, pipe.Incr(ctx, fmt.Sprintf("ctr%d", g)))
				pipe.Ping(ctx)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Error(err)
				return
			}
			for i := range gets {
				if gets[i].Val() != fmt.Sprint(i) || incrs[i].Val() != int64(i+1) {
					t.Errorf("client %d reply %d: %q %d", g, i, gets[i].Val(), incrs[i].Val())
					return
				}
			}
		}()
	}
	wg.Wait()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.ToUpper(string(data)), "\r\nINCR\r\n"); n != 8*500 {
		t.Fatalf("%d INCRs in the AOF, want %d", n, 8*500)
	}
}
