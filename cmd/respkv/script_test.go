package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// scripts are the transcripts of testdata/transcript*.txt, by file name.
var scripts = loadTranscripts()

// script is every transcript's lines (FuzzFeed's seeds).
var script = func() string {
	var all []string
	for _, s := range scripts {
		all = append(all, s)
	}
	sort.Strings(all)
	return strings.Join(all, "\n")
}()

// loadTranscripts reads testdata/transcript*.txt (one per command family):
// "command -> expected reply" lines, each file run in order on a fresh
// server. The replies are Redis 7.0's: RESPKV_REFERENCE=host:port runs the
// same transcripts against a real redis-server and compares. Lines
// starting with # are comments.
func loadTranscripts() map[string]string {
	files, err := filepath.Glob("testdata/transcript*.txt")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("no testdata/transcript*.txt: %v", err))
	}
	out := make(map[string]string, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		out[filepath.Base(f)] = strings.NewReplacer("{X150}", strings.Repeat("x", 150), "{X128}", strings.Repeat("x", 128)).Replace(strings.Join(lines, "\n"))
	}
	return out
}

// forEachScript runs fn for each transcript, in file name order, as a subtest.
func forEachScript(t *testing.T, fn func(t *testing.T, script string)) {
	names := make([]string, 0, len(scripts))
	for n := range scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(strings.TrimSuffix(n, ".txt"), func(t *testing.T) { fn(t, scripts[n]) })
	}
}

func runScript(t *testing.T, script string, do func(line string) string) {
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
	forEachScript(t, func(t *testing.T, script string) {
		k := newCore(t)
		runScript(t, script, k.do)
	})
}

// TestScriptAgainstRedis runs the script against a real Redis named by
// RESPKV_REFERENCE (for instance 127.0.0.1:6390); without it, it checks
// nothing. It FLUSHALLs that server.
func TestScriptAgainstRedis(t *testing.T) {
	addr := os.Getenv("RESPKV_REFERENCE")
	if addr == "" {
		return
	}
	forEachScript(t, func(t *testing.T, script string) {
		scriptAgainst(t, addr, script)
	})
}

func scriptAgainst(t *testing.T, addr, script string) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	runScript(t, script, func(line string) string {
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
