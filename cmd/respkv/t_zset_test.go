package main

import (
	"bufio"
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
