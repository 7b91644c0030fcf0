//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"
)

// Black-box reliability tests: respkv built with go build and run as a
// subprocess, killed with SIGKILL at random points while clients write, and
// run with an AOF that cannot grow.

// relBuild builds respkv into dir.
func relBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "respkv")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// relServer is one respkv process.
type relServer struct {
	cmd   *exec.Cmd
	addr  string
	mu    sync.Mutex
	lines []string
	done  chan struct{} // stderr closed: the process is gone
}

func relStart(t *testing.T, bin string, args ...string) *relServer {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &relServer{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			if a, ok := strings.CutPrefix(stripStamp(sc.Text()), "respkv: ready to accept connections on "); ok {
				ready <- a
			}
		}
	}()
	t.Cleanup(func() { s.kill() })
	select {
	case s.addr = <-ready:
	case <-s.done:
		cmd.Wait()
		t.Fatalf("respkv exited at start: %v\n%s", cmd.ProcessState, s.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("respkv did not start:\n%s", s.log())
	}
	return s
}

func (s *relServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// waitLog waits up to d for a line of the server's stderr that contains
// sub, and tells whether one came.
func (s *relServer) waitLog(sub string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		if strings.Contains(s.log(), sub) {
			return true
		}
		select {
		case <-s.done: // stderr is closed: every line is in
			return strings.Contains(s.log(), sub)
		case <-deadline:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits for the process.
func (s *relServer) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		<-s.done
		s.cmd.Wait()
	}
}

func relClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 2, PoolSize: 1, MaxRetries: -1,
		DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	})
}

// relAck is one acknowledged write.
type relAck struct {
	key, val string
	at       time.Time
}

// relWriters runs n clients that SET fresh keys (and INCR a shared counter)
// until the server goes away; it returns the acknowledged writes and the
// highest acknowledged counter value.
func relWriters(addr string, n int, stop <-chan struct{}) ([]relAck, int64) {
	var mu sync.Mutex
	var acks []relAck
	var maxIncr int64
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := relClient(addr)
			defer rdb.Close()
			ctx := context.Background()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k:%d:%d", g, i)
				val := fmt.Sprintf("v%d-%d-%s", g, i, strings.Repeat("x", i%50))
				if err := rdb.Set(ctx, key, val, 0).Err(); err != nil {
					return // the server is gone
				}
				now := time.Now()
				v, err := rdb.Incr(ctx, "counter").Result()
				mu.Lock()
				acks = append(acks, relAck{key, val, now})
				if err == nil && v > maxIncr {
					maxIncr = v
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return acks, maxIncr
}

// relKillRound runs writers against a fresh or replayed AOF, kills the
// server after a random delay, restarts it on the same AOF and returns what
// was acknowledged, when the kill was sent, and the restarted server.
func relKillRound(t *testing.T, bin, aof, fsync string, minDelay, maxDelay time.Duration, r *rand.Rand) ([]relAck, int64, time.Time, *relServer) {
	t.Helper()
	s := relStart(t, bin, "-aof", aof, "-appendfsync", fsync)
	stop := make(chan struct{})
	type result struct {
		acks []relAck
		incr int64
	}
	res := make(chan result, 1)
	go func() {
		a, n := relWriters(s.addr, 4, stop)
		res <- result{a, n}
	}()
	time.Sleep(minDelay + time.Duration(r.Int64N(int64(maxDelay-minDelay)))) // the random kill point
	killed := time.Now()
	s.cmd.Process.Signal(syscall.SIGKILL)
	var got result
	select {
	case got = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("writers did not notice the kill")
	}
	close(stop)
	s.kill()
	s2 := relStart(t, bin, "-aof", aof, "-appendfsync", fsync)
	return got.acks, got.incr, killed, s2
}

// relMissing returns the acknowledged writes not present after restart.
func relMissing(t *testing.T, addr string, acks []relAck) []relAck {
	t.Helper()
	rdb := relClient(addr)
	defer rdb.Close()
	ctx := context.Background()
	var missing []relAck
	for i := 0; i < len(acks); i += 500 {
		batch := acks[i:min(i+500, len(acks))]
		keys := make([]string, len(batch))
		for j, a := range batch {
			keys[j] = a.key
		}
		vals, err := rdb.MGet(ctx, keys...).Result()
		if err != nil {
			t.Fatalf("MGET after restart: %v", err)
		}
		for j, v := range vals {
			if s, ok := v.(string); !ok || s != batch[j].val {
				missing = append(missing, batch[j])
			}
		}
	}
	return missing
}

func relCounter(t *testing.T, addr string) int64 {
	t.Helper()
	rdb := relClient(addr)
	defer rdb.Close()
	v, err := rdb.Get(context.Background(), "counter").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("GET counter: %v", err)
	}
	return v
}

// TestReliabilityKill9Always: with appendfsync always, every write whose
// reply the client got survives a SIGKILL at a random point, round after
// round on the same AOF (each restart replays the previous rounds and
// whatever torn tail the kill left).
func TestReliabilityKill9Always(t *testing.T) {
	bin := relBuild(t)
	aof := filepath.Join(t.TempDir(), "appendonly.aof")
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 3))
	var all []relAck
	for round := 0; round < 3; round++ {
		acks, incr, _, s := relKillRound(t, bin, aof, "always", 20*time.Millisecond, 400*time.Millisecond, r)
		// Keys are reused from round to round (same names); later rounds'
		// values win. Keep the latest value of every key.
		all = append(all, acks...)
		latest := map[string]relAck{}
		for _, a := range all {
			latest[a.key] = a
		}
		check := make([]relAck, 0, len(latest))
		for _, a := range latest {
			check = append(check, a)
		}
		if m := relMissing(t, s.addr, check); len(m) > 0 {
			t.Fatalf("seed %d round %d: %d of %d acknowledged writes lost after kill -9 with appendfsync always, e.g. %s=%q\nserver log:\n%s",
				seed, round, len(m), len(check), m[0].key, m[0].val, s.log())
		}
		if c := relCounter(t, s.addr); c < incr {
			t.Fatalf("seed %d round %d: counter %d after restart, but INCR acknowledged %d", seed, round, c, incr)
		}
		t.Logf("round %d: %d writes acknowledged, all present after restart", round, len(acks))
		s.kill()
	}
}

// TestReliabilityKill9Everysec: with appendfsync everysec, a SIGKILL loses
// at most about the last second of acknowledged writes (a process kill
// leaves the page cache alone, so what the writer wrote survives; only what
// it had not written yet may be lost).
func TestReliabilityKill9Everysec(t *testing.T) {
	bin := relBuild(t)
	aof := filepath.Join(t.TempDir(), "appendonly.aof")
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 4))
	acks, _, killed, s := relKillRound(t, bin, aof, "everysec", 1200*time.Millisecond, 1800*time.Millisecond, r)
	m := relMissing(t, s.addr, acks)
	const slack = 1500 * time.Millisecond // one fsync period plus scheduling
	for _, a := range m {
		if killed.Sub(a.at) > slack {
			t.Fatalf("seed %d: %s acknowledged %v before the kill is lost (%d of %d lost)", seed, a.key, killed.Sub(a.at), len(m), len(acks))
		}
	}
	t.Logf("%d writes acknowledged, %d lost (all within %v of the kill)", len(acks), len(m), slack)
}

// relLimitedServer starts respkv on aof with the given policy and limits the
// file's size (RLIMIT_FSIZE of the process: writes beyond it fail with
// EFBIG, as a full disk fails them with ENOSPC).
func relLimitedServer(t *testing.T, fsync string) (s *relServer, aof, bin string) {
	t.Helper()
	bin = relBuild(t)
	aof = filepath.Join(t.TempDir(), "appendonly.aof")
	s = relStart(t, bin, "-aof", aof, "-appendfsync", fsync)
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &cur); err != nil {
		t.Fatal(err)
	}
	// Only the soft limit: the test raises it back later.
	lim := unix.Rlimit{Cur: 64 << 10, Max: cur.Max}
	if err := unix.Prlimit(s.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	return s, aof, bin
}

// relFill writes until the server answers a write with an error, for at
// most limit; it returns the first error reply and how many writes were
// acknowledged.
func relFill(t *testing.T, rdb *redis.Client, limit time.Duration) (int, error) {
	t.Helper()
	ctx := context.Background()
	val := strings.Repeat("v", 1000)
	end := time.Now().Add(limit)
	n := 0
	for i := 0; time.Now().Before(end); i++ {
		if err := rdb.Set(ctx, fmt.Sprintf("fill:%d", i), val, 0).Err(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// TestReliabilityDiskFullEverysec: when the AOF cannot grow, the server
// stays up (it answers reads and PING) and refuses writes with an error
// reply, as Redis does with -MISCONF, instead of acknowledging writes it
// cannot persist; once the file can grow again, writes are accepted and the
// AOF replays every acknowledged write after a restart.
func TestReliabilityDiskFullEverysec(t *testing.T) {
	s, aof, bin := relLimitedServer(t, "everysec")
	rdb := relClient(s.addr)
	defer rdb.Close()
	ctx := context.Background()
	// relFill stops at the first refused write; the bound only matters if
	// none is refused, and is generous for a loaded machine.
	const fillFor = 10 * time.Second
	n, werr := relFill(t, rdb, fillFor)
	st, _ := os.Stat(aof)
	// Whatever the write replies were, the server must be alive.
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after the AOF filled up: %v\nserver log:\n%s", err, s.log())
	}
	select {
	case <-s.done:
		t.Fatalf("respkv exited when the AOF filled up:\n%s", s.log())
	default:
	}
	if _, err := rdb.Get(ctx, "fill:0").Result(); err != nil {
		t.Fatalf("GET after the AOF filled up: %v", err)
	}
	// The server logs the failed AOF write on its own schedule (stderr is
	// read by another goroutine): wait for the line.
	if !s.waitLog("respkv: writing the AOF: ", 10*time.Second) {
		t.Errorf("no AOF write error reported in the log within 10s:\n%s", s.log())
	}
	size := int64(0)
	if st != nil {
		size = st.Size()
	}
	if werr == nil {
		t.Fatalf("the AOF stopped growing at %d bytes, yet %d writes (about %d KiB) were acknowledged in %v: writes that cannot be persisted must get an error reply (Redis: -MISCONF Errors writing to the AOF file)",
			size, n, n, fillFor)
	}
	if !strings.Contains(werr.Error(), "MISCONF") && !strings.Contains(werr.Error(), "ERR") {
		t.Errorf("write refused with %v, want a -MISCONF/-ERR reply", werr)
	}

	// Room again: writes are accepted once the AOF can be written, and
	// the file stays replayable (no torn record left in its middle): after
	// a graceful restart every acknowledged write is there.
	var inf unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &inf); err != nil {
		t.Fatal(err)
	}
	if err := unix.Prlimit(s.cmd.Process.Pid, unix.RLIMIT_FSIZE, &inf, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	var acked []relAck
	for i := 0; i < n; i++ {
		acked = append(acked, relAck{key: fmt.Sprintf("fill:%d", i), val: strings.Repeat("v", 1000)})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		key := fmt.Sprintf("after:%d", len(acked))
		err := rdb.Set(ctx, key, "x", 0).Err()
		if err == nil {
			acked = append(acked, relAck{key: key, val: "x"})
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still refused 10s after the AOF could grow again: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the server retries the AOF about once a second
	}
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("after2:%d", i)
		if err := rdb.Set(ctx, key, "y", 0).Err(); err != nil {
			t.Fatalf("SET after recovery: %v", err)
		}
		acked = append(acked, relAck{key: key, val: "y"})
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("respkv did not exit on SIGTERM")
	}
	s.cmd.Wait()
	s2 := relStart(t, bin, "-aof", aof, "-appendfsync", "everysec")
	if m := relMissing(t, s2.addr, acked); len(m) > 0 {
		t.Fatalf("%d of %d acknowledged writes missing after the AOF recovered and the server restarted, e.g. %s\nlog:\n%s\nrestart log:\n%s",
			len(m), len(acked), m[0].key, s.log(), s2.log())
	}
}

// TestReliabilityDiskFullAlways: with appendfsync always, a write the AOF
// cannot take is never acknowledged; the server stops with an error message
// (Redis: "Can't recover from AOF write error when the AOF fsync policy is
// 'always'. Exiting..."), not a crash, and a restart replays every
// acknowledged write.
func TestReliabilityDiskFullAlways(t *testing.T) {
	s, aof, bin := relLimitedServer(t, "always")
	rdb := relClient(s.addr)
	defer rdb.Close()
	ctx := context.Background()
	val := strings.Repeat("v", 1000)
	var acked []string
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("fill:%d", i)
		if err := rdb.Set(ctx, key, val, 0).Err(); err != nil {
			break
		}
		acked = append(acked, key)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("respkv neither refused nor exited with a full AOF; log:\n%s", s.log())
	}
	s.cmd.Wait()
	if st := s.cmd.ProcessState; st.Success() || st.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("respkv ended with %v; want a clean error exit", st)
	}
	log := s.log()
	if strings.Contains(log, "panic:") || strings.Contains(log, "goroutine ") {
		t.Fatalf("respkv crashed:\n%s", log)
	}
	if !strings.Contains(log, "AOF") {
		t.Fatalf("exit without an AOF error message:\n%s", log)
	}
	if len(acked) == 1000 {
		t.Fatalf("1000 writes of 1 KiB acknowledged with a 64 KiB AOF limit")
	}
	// Restart without the limit: every acknowledged write is there.
	s2 := relStart(t, bin, "-aof", aof, "-appendfsync", "always")
	acks := make([]relAck, len(acked))
	for i, k := range acked {
		acks[i] = relAck{key: k, val: val}
	}
	if m := relMissing(t, s2.addr, acks); len(m) > 0 {
		t.Fatalf("%d of %d acknowledged writes lost after the AOF filled up", len(m), len(acks))
	}
	t.Logf("%d writes acknowledged before the AOF filled up; server exited with %v", len(acked), s.cmd.ProcessState)
}
