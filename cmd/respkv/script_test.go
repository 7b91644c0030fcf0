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

// script is the transcript of testdata/transcript.txt.
var script = loadTranscript()

// loadTranscript reads testdata/transcript.txt: "command -> expected reply"
// lines, run in order on a fresh server. The replies are Redis 7.0's:
// RESPKV_REFERENCE=host:port runs the same transcript against a real
// redis-server and compares. Lines starting with # are comments.
func loadTranscript() string {
	b, err := os.ReadFile("testdata/transcript.txt")
	if err != nil {
		panic(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return strings.NewReplacer("{X150}", strings.Repeat("x", 150), "{X128}", strings.Repeat("x", 128)).Replace(strings.Join(lines, "\n"))
}

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
