package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStampWriter(t *testing.T) {
	var out bytes.Buffer
	w := newStampWriter(&out)
	at := time.Date(2026, 12, 6, 5, 20, 1, 123e6, time.UTC)
	w.now = func() time.Time { return at }
	for _, p := range []string{"respkv: one\nrespkv: t", "wo\n", "", "\n", "respkv: three\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	stamp := strconv.Itoa(os.Getpid()) + ":M 06 Dec 2026 05:20:01.123 "
	want := stamp + "respkv: one\n" + stamp + "respkv: two\n" + stamp + "\n" + stamp + "respkv: three\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}

// stripStamp returns a log line without the stamp a stampWriter put first.
func stripStamp(line string) string {
	if _, rest, ok := strings.Cut(line, ":M "); ok && len(rest) >= len("06 Dec 2026 05:20:01.123 ") {
		return rest[len("06 Dec 2026 05:20:01.123 "):]
	}
	return line
}
