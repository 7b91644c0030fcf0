package resp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func parseAll(t *testing.T, in string) ([]string, int, error) {
	t.Helper()
	p := NewParser(512 << 20)
	var out []string
	b := []byte(in)
	off := 0
	for {
		args, n, err := p.Parse(b[off:])
		if err != nil || n == 0 {
			return out, off, err
		}
		off += n
		var parts []string
		for _, a := range args {
			parts = append(parts, string(a))
		}
		out = append(out, strings.Join(parts, "|"))
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		used int
		err  string
	}{
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", []string{"GET|k"}, -1, ""},
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", []string{"GET|k", "PING"}, -1, ""},
		{"*2\r\n$3\r\nGET\r\n$1\r\n", nil, 0, ""},
		{"*2\r\n$3\r\nGET\r\n$1", nil, 0, ""},
		{"*2\r", nil, 0, ""},
		{"*0\r\n", []string{""}, -1, ""},
		{"*-1\r\n", []string{""}, -1, ""},
		{"PING\r\n", []string{"PING"}, -1, ""},
		{"PING\n", []string{"PING"}, -1, ""},
		{"\r\n", []string{""}, -1, ""},
		{"set a \"b c\\x41\\n\"\r\n", []string{"set|a|b cA\n"}, -1, ""},
		{"set a 'it\\'s'\r\n", []string{"set|a|it's"}, -1, ""},
		{"set a \"b\r\n", nil, 0, "Protocol error: unbalanced quotes in request"},
		{"set a \"b\"c\r\n", nil, 0, "Protocol error: unbalanced quotes in request"},
		{"*x\r\n", nil, 0, "Protocol error: invalid multibulk length"},
		{"*3000000000\r\n", nil, 0, "Protocol error: invalid multibulk length"},
		{"*1\r\n+OK\r\n", nil, 0, "Protocol error: expected '$', got '+'"},
		{"*1\r\n$-1\r\n", nil, 0, "Protocol error: invalid bulk length"},
		{"*1\r\n$x\r\n", nil, 0, "Protocol error: invalid bulk length"},
		{"*1\r\n$600000000\r\n", nil, 0, "Protocol error: invalid bulk length"},
		{"*1\r\n$01\r\na\r\n", nil, 0, "Protocol error: invalid bulk length"},
	}
	for _, tt := range tests {
		got, used, err := parseAll(t, tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
		wantUsed := tt.used
		if wantUsed < 0 {
			wantUsed = len(tt.in)
		}
		if used != wantUsed {
			t.Errorf("%q: used %d, want %d", tt.in, used, wantUsed)
		}
	}
}

func TestParseLimits(t *testing.T) {
	p := NewParser(100)
	if _, _, err := p.Parse([]byte("*1\r\n$100\r\n")); err != nil {
		t.Fatalf("100 at limit 100: %v", err)
	}
	if _, _, err := p.Parse([]byte("*1\r\n$101\r\n")); err != ErrInvalidBulkLen {
		t.Fatalf("101 at limit 100: %v", err)
	}
	long := bytes.Repeat([]byte("a"), InlineMax+10)
	if _, _, err := p.Parse(long); err != ErrTooBigInline {
		t.Fatalf("long inline: %v", err)
	}
	if _, _, err := p.Parse(append([]byte("*"), long...)); err != ErrTooBigMbulk {
		t.Fatalf("long mbulk: %v", err)
	}
	if _, _, err := p.Parse(append([]byte("*1\r\n$"), long...)); err != ErrTooBigBulk {
		t.Fatalf("long bulk: %v", err)
	}
}

func TestParseInt(t *testing.T) {
	good := map[string]int64{"0": 0, "1": 1, "-1": -1, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63}
	for s, want := range good {
		if v, ok := ParseInt([]byte(s)); !ok || v != want {
			t.Errorf("%q: %d %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "-", "+1", "01", "-0", " 1", "1 ", "9223372036854775808", "-9223372036854775809", "99999999999999999999", "1a"} {
		if _, ok := ParseInt([]byte(s)); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseNoAlloc(t *testing.T) {
	p := NewParser(1 << 20)
	in := []byte("*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$3\r\nxxx\r\n")
	p.Parse(in)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, n, err := p.Parse(in); n != len(in) || err != nil {
			t.Fatal(n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per parse", allocs)
	}
}

// FuzzParse checks that the parser never panics, never claims more input
// than it has, and that a request it accepts re-encodes to one it parses to
// the same arguments.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		// real traffic: redis-benchmark, redis-cli, go-redis
		"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n",
		"*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n",
		"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n",
		"*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n",
		"*2\r\n$5\r\nhello\r\n$1\r\n3\r\n",
		"*4\r\n$6\r\nclient\r\n$7\r\nsetinfo\r\n$8\r\nLIB-NAME\r\n$8\r\ngo-redis\r\n",
		"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
		"*5\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$2\r\n10\r\n",
		"PING\r\n", "set a \"b\\x00c\"\r\n", "get 'x y'\n", "*0\r\n", "*-1\r\n", "\r\n",
		"*1\r\n$-1\r\n", "*2\r\n$1\r\na\r\n", "*1\r\n:1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p := NewParser(1 << 16)
		off := 0
		for off < len(in) {
			args, n, err := p.Parse(in[off:])
			if err != nil {
				if _, ok := err.(ProtocolError); !ok {
					t.Fatalf("error of type %T", err)
				}
				return
			}
			if n == 0 {
				return
			}
			if n < 0 || off+n > len(in) {
				t.Fatalf("used %d of %d", n, len(in)-off)
			}
			off += n
			if len(args) == 0 {
				continue
			}
			enc := AppendCommand(nil, args...)
			q := NewParser(1 << 16)
			back, m, err := q.Parse(enc)
			if err != nil || m != len(enc) || len(back) != len(args) {
				t.Fatalf("re-encoded %q: %v %d %d", enc, err, m, len(back))
			}
			for i := range args {
				if !bytes.Equal(args[i], back[i]) {
					t.Fatalf("arg %d: %q vs %q", i, args[i], back[i])
				}
			}
		}
	})
}

// A NUL before the newline of an inline request hides the newline, as
// Redis's strchr does: the request is incomplete until it passes
// InlineMax, then refused.
func TestInlineNUL(t *testing.T) {
	p := NewParser(1 << 20)
	for _, in := range []string{"ECHO a\x00b\r\n", "\x00\r\nPING\r\n"} {
		if args, n, err := p.Parse([]byte(in)); n != 0 || err != nil || args != nil {
			t.Errorf("%q: %q %d %v, want incomplete", in, args, n, err)
		}
	}
	big := append([]byte("ECHO \x00\r\n"), make([]byte, InlineMax)...)
	if _, _, err := p.Parse(big); err != ErrTooBigInline {
		t.Errorf("NUL then %d bytes: %v, want %v", InlineMax, err, ErrTooBigInline)
	}
}
