package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRewriteSnapshotIsStable: while a rewrite's snapshot is alive, no
// command changes a value it holds; every in-place change copies first.
func TestRewriteSnapshotIsStable(t *testing.T) {
	k := newCore(t)
	for _, l := range []string{
		"SET r abcdefgh", "SET b abcdefgh", "SET n 41", "SET s abcdefgh", "SET a abcdefgh",
		"SET mv abcdefgh", "SET f 1.5",
	} {
		k.do(l)
	}
	snap := k.s.snapshot()
	want := map[string]string{}
	for _, e := range snap[0] {
		want[e.key] = string(e.val)
	}
	for _, l := range []string{
		"SETRANGE r 0 ZZ", "SETBIT b 0 0", "INCR n", "SET s ABCDEFGH", "APPEND a XY",
		"RENAME mv mv2", "SETRANGE mv2 1 QQ", "INCRBYFLOAT f 1", "SETRANGE s 0 xx",
	} {
		k.do(l)
	}
	for _, e := range snap[0] {
		if string(e.val) != want[e.key] {
			t.Errorf("snapshot of %s changed: %q, was %q", e.key, e.val, want[e.key])
		}
	}
	if got := k.do("GET r"); got != `"ZZcdefgh"` {
		t.Errorf("GET r = %s", got)
	}
	if got := k.do("GET mv2"); got != `"aQQdefgh"` {
		t.Errorf("GET mv2 = %s", got)
	}
	// Once owned, a value is changed in place again (no copy per command).
	i := k.s.dbs[0].find([]byte("r"))
	before := &k.s.dbs[0].ents[i].val[0]
	k.do("SETRANGE r 2 YY")
	if &k.s.dbs[0].ents[i].val[0] != before {
		t.Error("an owned value was copied again")
	}
}

// infoField returns one field of INFO persistence.
func infoField(t *testing.T, rdb *redis.Client, name string) string {
	t.Helper()
	info, err := rdb.Info(context.Background(), "persistence").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO persistence has no %s:\n%s", name, info)
	return ""
}

// fillKeys writes n keys (and counters) with a pipeline.
func fillKeys(t *testing.T, rdb *redis.Client, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 1000 {
		pipe := rdb.Pipeline()
		for j := i; j < min(i+1000, n); j++ {
			pipe.Set(ctx, fmt.Sprintf("%s%d", prefix, j), strings.Repeat("v", j%100), 0)
			pipe.Incr(ctx, prefix+"counter")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBGRewriteAOF: BGREWRITEAOF while clients write: the loop keeps
// answering, the new AOF is the snapshot (SET commands, no INCR history)
// plus what was written meanwhile, and a restart from it gives the same
// keyspace.
func TestBGRewriteAOF(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "appendonly.aof")
	p := startProc(t, "-aof", path, "-appendfsync", "everysec", "-auto-aof-rewrite-percentage", "0")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2, PoolSize: 4})
	defer rdb.Close()
	writeWorkload(t, p.addr)
	fillKeys(t, rdb, "f", 20000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var during int
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				during = i
				return
			default:
			}
			if err := rdb.Set(ctx, fmt.Sprintf("during%d", i), i, 0).Err(); err != nil {
				t.Error(err)
				return
			}
			rdb.Incr(ctx, "fcounter")
			rdb.SetRange(ctx, "f5000", 0, fmt.Sprint(i))
		}
	}()
	if got := rdb.Do(ctx, "BGREWRITEAOF").Val(); got != "Background append only file rewriting started" {
		t.Fatalf("BGREWRITEAOF: %v", got)
	}
	if err := rdb.Do(ctx, "BGREWRITEAOF").Err(); err == nil || err.Error() != "ERR Background append only file rewriting already in progress" {
		// The rewrite may have finished already; then a second one starts.
		if err != nil {
			t.Fatalf("second BGREWRITEAOF: %v", err)
		}
	}
	waitFor(t, 20*time.Second, "the rewrite", func() bool {
		return infoField(t, rdb, "aof_rewrite_in_progress") == "0" && infoField(t, rdb, "aof_last_rewrite_time_sec") != "-1"
	})
	close(stop)
	wg.Wait()
	if st := infoField(t, rdb, "aof_last_bgrewrite_status"); st != "ok" {
		t.Fatalf("rewrite status %s\n%s", st, p.log())
	}
	rdb.Set(ctx, "after", "1", 0)
	before := dump(t, p.addr)
	if !strings.Contains(p.log(), "Background AOF rewrite finished successfully") {
		t.Errorf("no log of the rewrite:\n%s", p.log())
	}
	// Graceful stop, so that everysec has written everything.
	p.cmd.Process.Signal(os.Interrupt)
	<-p.done
	p.cmd.Wait()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// 20000 INCRs before the rewrite became one SET; the ones during it
	// are the tail.
	if n := strings.Count(string(data), "\r\nINCR\r\n"); n > during+1 {
		t.Errorf("%d INCRs in the rewritten AOF (%d written during the rewrite)", n, during)
	}
	if _, err := os.Stat(rewriteTmp(path)); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	p2 := startProc(t, "-aof", path)
	if after := dump(t, p2.addr); after != before {
		t.Fatalf("keyspace differs after the rewrite and a restart:\nbefore:\n%.2000s\nafter:\n%.2000s", before, after)
	}
}

// TestAutoRewrite: the AOF is rewritten when it has grown by
// auto-aof-rewrite-percentage beyond auto-aof-rewrite-min-size.
func TestAutoRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	addr := startServer(t, Config{AOF: path, AppendFsync: "always", AutoAOFRewritePercentage: 100, AutoAOFRewriteMinSize: 64 << 10})
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
	defer rdb.Close()
	ctx := context.Background()
	// The same few keys over and over: the AOF grows, the data does not.
	for i := 0; i < 4000; i++ {
		if err := rdb.Set(ctx, fmt.Sprintf("k%d", i%10), strings.Repeat("x", 40), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "an automatic rewrite", func() bool {
		return infoField(t, rdb, "aof_last_rewrite_time_sec") != "-1" && infoField(t, rdb, "aof_rewrite_in_progress") == "0"
	})
	// About 250 KB were appended; rewrites keep the file near the minimum
	// size (it holds 10 keys and what came after the last rewrite).
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 100<<10 {
		t.Fatalf("AOF of %d bytes after automatic rewrites", st.Size())
	}
	if base := infoField(t, rdb, "aof_base_size"); base == "0" {
		t.Fatalf("aof_base_size %s", base)
	}
	s := newServer(Config{MaxReq: 1 << 20})
	if err := s.loadAOF(path, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := s.dbs[0].size(); n != 10 {
		t.Fatalf("%d keys loaded from the rewritten AOF, want 10", n)
	}
}

// TestRewriteKill9AtEachStep: the process is killed (SIGKILL) at each step
// of a rewrite, while clients write with appendfsync always; after a
// restart every acknowledged write is there and the keyspace from before
// the rewrite is intact.
func TestRewriteKill9AtEachStep(t *testing.T) {
	for _, step := range []string{"snapshot", "base-half", "base-written", "base-synced", "tail-written", "tail-synced", "renamed", "dir-synced"} {
		t.Run(step, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "appendonly.aof")
			p := startProcEnv(t, []string{"RESPKV_TEST_REWRITE_CRASH=" + step, "RESPKV_TEST_REWRITE_TAIL=4000"}, "-aof", path, "-appendfsync", "always", "-auto-aof-rewrite-percentage", "0")
			ctx := context.Background()
			rdb := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2, PoolSize: 8, MaxRetries: -1})
			defer rdb.Close()
			writeWorkload(t, p.addr)
			fillKeys(t, rdb, "f", 3000)
			base := dump(t, p.addr)
			// Writers: every acknowledged SET is recorded.
			var mu sync.Mutex
			acked := map[string]string{}
			var maxIncr int64
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						k, v := fmt.Sprintf("w%d:%d", g, i), fmt.Sprintf("val%d", i)
						if err := rdb.Set(ctx, k, v, 0).Err(); err != nil {
							return
						}
						n, err := rdb.Incr(ctx, "wcounter").Result()
						mu.Lock()
						acked[k] = v
						maxIncr = max(maxIncr, n)
						mu.Unlock()
						if err != nil {
							return
						}
					}
				}()
			}
			// Let the writers run, then rewrite: the process kills itself.
			waitFor(t, 10*time.Second, "some writes", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acked) > 50
			})
			if err := rdb.Do(ctx, "BGREWRITEAOF").Err(); err != nil && step != "snapshot" {
				t.Fatal(err)
			}
			mu.Lock()
			atRewrite := len(acked)
			mu.Unlock()
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("the process was not killed at %s:\n%s", step, p.log())
			}
			p.cmd.Wait()
			wg.Wait()
			if st, ok := p.cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !st.Signaled() {
				t.Fatalf("the process ended without the kill: %v\n%s", p.cmd.ProcessState, p.log())
			}
			p2 := startProc(t, "-aof", path)
			rdb2 := redis.NewClient(&redis.Options{Addr: p2.addr, Protocol: 2})
			defer rdb2.Close()
			for k, v := range acked {
				if got, err := rdb2.Get(ctx, k).Result(); err != nil || got != v {
					t.Fatalf("acknowledged %s=%s lost after a kill at %s: %q %v", k, v, step, got, err)
				}
			}
			if n, _ := rdb2.Get(ctx, "wcounter").Int64(); n < maxIncr {
				t.Fatalf("counter %d after a kill at %s, %d was acknowledged", n, step, maxIncr)
			}
			// The keys from before the rewrite: w* keys aside, the same.
			after := dump(t, p2.addr)
			var kept []string
			for _, l := range strings.Split(after, "\n") {
				if !strings.Contains(l, `"w`) {
					kept = append(kept, l)
				}
			}
			if strings.Join(kept, "\n") != base {
				t.Fatalf("keyspace from before the rewrite differs after a kill at %s", step)
			}
			// From the tail on, writes acknowledged during the rewrite
			// (the rewriter waits for 4000 bytes of tail) were at stake.
			if (strings.HasPrefix(step, "tail") || step == "renamed" || step == "dir-synced") && len(acked) <= atRewrite {
				t.Fatalf("no write acknowledged during the rewrite (%d before, %d in all)", atRewrite, len(acked))
			}
			t.Logf("%s: %d acknowledged writes kept, %d during the rewrite", step, len(acked), len(acked)-atRewrite)
		})
	}
}
