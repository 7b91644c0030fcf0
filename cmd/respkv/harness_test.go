package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// splitLine splits a redis-cli style command line (quotes allowed).
func splitLine(t testing.TB, line string) [][]byte {
	t.Helper()
	p := resp.NewParser(1 << 30)
	args, n, err := p.Parse([]byte(line + "\n"))
	if err != nil || n == 0 {
		t.Fatalf("bad test line %q: %v", line, err)
	}
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = append([]byte(nil), a...)
	}
	return out
}

// readReply decodes one RESP2 reply into a compact text form:
// OK, (nil), (error) ..., (integer) n, "bulk", [a, b] and (nil array).
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "(error) " + line[1:], nil
	case ':':
		return "(integer) " + line[1:], nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return strconv.Quote(string(buf[:n])), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "(nil array)", nil
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("bad reply line %q", line)
}

// core drives the server's command core directly, without a network.
type core struct {
	t *testing.T
	s *server
	c *client
}

func newCore(t *testing.T) *core {
	s := newServer(Config{MaxReq: 512 << 20})
	return &core{t: t, s: s, c: s.newClient(nil)}
}

// do runs one command line and returns its reply in readReply's form.
func (k *core) do(line string) string {
	k.t.Helper()
	return k.doArgs(splitLine(k.t, line)...)
}

func (k *core) doArgs(args ...[]byte) string {
	k.t.Helper()
	req := resp.AppendCommand(nil, args...)
	k.c.out = k.c.out[:0]
	n := k.s.feed(k.c, req)
	if n != len(req) {
		k.t.Fatalf("feed used %d of %d", n, len(req))
	}
	r := bufio.NewReader(bytes.NewReader(k.c.out))
	got, err := readReply(r)
	if err != nil {
		k.t.Fatalf("%q: bad reply %q: %v", args, k.c.out, err)
	}
	if r.Buffered() != 0 {
		k.t.Fatalf("%q: extra reply bytes %q", args, k.c.out)
	}
	return got
}
