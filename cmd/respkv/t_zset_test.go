package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// TestZsetGenTranscript records testdata/transcript_zset.txt: with
// RESPKV_GEN_ZSET=file (command lines, # comments) and
// RESPKV_REFERENCE=host:port (a redis-server 7.0.15, which it FLUSHALLs), each
// command is sent to the reference and written with its reply. Without
// them it does nothing.
func TestZsetGenTranscript(t *testing.T) {
	in, addr := os.Getenv("RESPKV_GEN_ZSET"), os.Getenv("RESPKV_REFERENCE")
	if in == "" || addr == "" {
		return
	}
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	expand := strings.NewReplacer("{X150}", strings.Repeat("x", 150), "{X128}", strings.Repeat("x", 128))
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			out = append(out, line)
			continue
		}
		if _, err := nc.Write(resp.AppendCommand(nil, splitLine(t, expand.Replace(line))...)); err != nil {
			t.Fatal(err)
		}
		got, err := readReply(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, line+" -> "+got)
	}
	if err := os.WriteFile("testdata/transcript_zset.txt", []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestZsetScanGuarantee: ZSCAN of a large set returns every member that is
// there for the whole scan, while others are added and removed between
// the pages.
func TestZsetScanGuarantee(t *testing.T) {
	k := newCore(t)
	for i := 0; i < 1000; i++ {
		k.do(fmt.Sprintf("ZADD z %d m%d", i%13, i))
	}
	if got := k.do("OBJECT ENCODING z"); got != `"skiplist"` {
		t.Fatal(got)
	}
	seen := map[string]bool{}
	cursor, next := "0", 1000
	for page := 0; ; page++ {
		reply := k.do("ZSCAN z " + cursor + " COUNT 7")
		var parts []string
		for _, p := range strings.Split(reply, ", ") {
			parts = append(parts, strings.Trim(p, `[]"`))
		}
		cursor = parts[0]
		for i := 1; i+1 < len(parts); i += 2 {
			seen[parts[i]] = true
		}
		if cursor == "0" {
			break
		}
		// Remove odd members (some seen, some not) and add new ones.
		k.do(fmt.Sprintf("ZREM z m%d m%d", (page*37)%1000|1, (page*91+500)%1000|1))
		k.do(fmt.Sprintf("ZADD z %d n%d", page%5, next))
		next++
	}
	for i := 0; i < 1000; i += 2 {
		if !seen[fmt.Sprint("m", i)] {
			t.Fatalf("m%d, present throughout, never returned", i)
		}
	}
}

// TestZrandmemberLimit: a negative count beyond the limit every random
// reply shares is refused (Redis would build the reply, however large).
func TestZrandmemberLimit(t *testing.T) {
	k := newCore(t)
	k.do("ZADD z 1 a 2 b")
	if got := k.do("ZRANDMEMBER z -16777217"); got != "(error) "+errRandomCount {
		t.Fatal(got)
	}
	if got := k.do("ZRANDMEMBER z -3"); strings.Count(got, ",") != 2 {
		t.Fatal(got)
	}
	if got := k.do("ZRANDMEMBER nokey -16777217"); got != "[]" {
		t.Fatal(got)
	}
}
