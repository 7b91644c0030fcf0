package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// aofRec encodes one command as the AOF holds it.
func aofRec(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

// loadFile writes content as an AOF, loads it into a fresh server and
// returns the server, the log, the file afterwards and the load error.
func loadFile(t *testing.T, content string) (*server, string, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(Config{MaxReq: 512 << 20})
	var log bytes.Buffer
	err := s.loadAOF(path, &log)
	after, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return s, log.String(), string(after), err
}

func keyVal(s *server, dbi int, key string) (string, bool) {
	i := s.dbs[dbi].find([]byte(key))
	if i < 0 {
		return "", false
	}
	return string(s.dbs[dbi].ents[i].val), true
}

// TestAOFLoadRefusesCorruption: every corruption of the list stops
// the load with Redis's message; nothing of it runs, and the file is left
// as it was.
func TestAOFLoadRefusesCorruption(t *testing.T) {
	good := aofRec("SET", "a", "1") + aofRec("SET", "b", "2")
	for _, tc := range []struct {
		name, content, want string
	}{
		{"inline FLUSHALL line", good + "FLUSHALL\r\n" + aofRec("SET", "c", "3"), "Bad file format reading the append only file"},
		{"inline line alone", "FLUSHALL\r\n", "Bad file format reading the append only file"},
		{"flipped star", good + "+3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n" + aofRec("SET", "d", "4"), "Bad file format reading the append only file"},
		{"*3 changed to *2", aofRec("SET", "a", "1") + "*2\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n" + aofRec("SET", "d", "4"), "Bad file format reading the append only file"},
		{"unknown command", good + aofRec("NOSUCHCMD", "x") + aofRec("SET", "c", "3"), "Unknown command 'NOSUCHCMD' reading the append only file"},
		{"plain text", "hello world\nthis is not an AOF\n", "Bad file format reading the append only file"},
		{"wrong arity", good + aofRec("GET") + aofRec("SET", "c", "3"), "Bad file format reading the append only file"},
		{"bad bulk marker", good + "*1\r\n:garbage\r\n" + aofRec("PING"), "Bad file format reading the append only file"},
		{"argument without crlf", good + "*1\r\n$4\r\nPINGxx" + aofRec("PING"), "Bad file format reading the append only file"},
		{"negative count", good + "*-1\r\n" + aofRec("PING"), "Bad file format reading the append only file"},
		{"zero count", good + "*0\r\n" + aofRec("PING"), "Bad file format reading the append only file"},
		{"negative length", good + "*1\r\n$-1\r\n" + aofRec("PING"), "Bad file format reading the append only file"},
		{"digits overflow", good + "*1\r\n$99999999999999999999999\r\n" + aofRec("PING"), "Bad file format reading the append only file"},
		{"count with junk", good + "*1x\r\n$4\r\nPING\r\n", "Bad file format reading the append only file"},
		{"header without cr", good + "*1\n$4\r\nPING\r\n", "Bad file format reading the append only file"},
		{"rdb preamble", "REDIS0009\xfa\x09redis-ver", "Bad file format reading the append only file"},
	} {
		s, _, after, err := loadFile(t, tc.content)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: load error %v, want %q", tc.name, err, tc.want)
			continue
		}
		if after != tc.content {
			t.Errorf("%s: the refused file was changed", tc.name)
		}
		// Nothing after the bad record ran.
		for _, k := range []string{"c", "d"} {
			if _, ok := keyVal(s, 0, k); ok {
				t.Errorf("%s: key %s after the corruption was loaded", tc.name, k)
			}
		}
	}
}

// TestAOFLoadTruncated: a last record cut short anywhere, or a last
// transaction without EXEC, is cut off with Redis's warnings and the rest
// is loaded; the file is truncated to the last complete record.
func TestAOFLoadTruncated(t *testing.T) {
	good := aofRec("SET", "a", "1") + "#TS:1700000000\r\n" + aofRec("SET", "b", "2")
	last := aofRec("SET", "c", "value-of-c")
	for cut := 1; cut < len(last); cut++ {
		s, log, after, err := loadFile(t, good+last[:cut])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if after != good {
			t.Fatalf("cut %d: file not truncated to the good part: %q", cut, after)
		}
		if v, _ := keyVal(s, 0, "b"); v != "2" {
			t.Fatalf("cut %d: b = %q", cut, v)
		}
		if _, ok := keyVal(s, 0, "c"); ok {
			t.Fatalf("cut %d: the torn record ran", cut)
		}
		for _, w := range []string{"short read while loading the AOF file", "Truncating the AOF", "loaded anyway because aof-load-truncated is enabled"} {
			if !strings.Contains(log, w) {
				t.Fatalf("cut %d: log lacks %q:\n%s", cut, w, log)
			}
		}
	}
	// A length larger than the rest of the file is a cut record too, and
	// nothing of that size is allocated.
	for _, tail := range []string{"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$999999999999999\r\nab", "*999999999999999\r\n$3\r\nSET\r\n"} {
		_, _, after, err := loadFile(t, good+tail)
		if err != nil || after != good {
			t.Fatalf("huge length at the end: %v %q", err, after)
		}
	}
	s, log, after, err := loadFile(t, good+aofRec("MULTI")+aofRec("SET", "t", "1")+aofRec("INCR", "n"))
	if err != nil || after != good || !strings.Contains(log, "Revert incomplete MULTI/EXEC transaction") {
		t.Fatalf("MULTI without EXEC: %v %q\n%s", err, after, log)
	}
	if _, ok := keyVal(s, 0, "t"); ok {
		t.Fatal("the unfinished transaction ran")
	}
}

// TestAOFLoadLogs: a load says what it loaded; a complete file is not
// changed; annotations are skipped; errors of replayed commands are counted.
func TestAOFLoadLogs(t *testing.T) {
	content := aofRec("SELECT", "3") + aofRec("SET", "k", "v") + "#TS:1\r\n" + aofRec("MULTI") + aofRec("SET", "x", "y") + aofRec("EXEC") +
		aofRec("INCR", "k")
	s, log, after, err := loadFile(t, content)
	if err != nil || after != content {
		t.Fatalf("%v %q", err, after)
	}
	if v, _ := keyVal(s, 3, "x"); v != "y" {
		t.Fatalf("x = %q", v)
	}
	if !strings.Contains(log, "DB loaded from append only file") || !strings.Contains(log, "6 commands") || !strings.Contains(log, "2 keys") {
		t.Fatalf("log: %s", log)
	}
	if !strings.Contains(log, "1 of the commands") || !strings.Contains(log, "not an integer") {
		t.Fatalf("command errors not reported: %s", log)
	}
}

// FuzzAOFLoad: no input crashes or hangs the loader; what it accepts it
// accepts as complete records only.
func FuzzAOFLoad(f *testing.F) {
	f.Add([]byte(aofRec("SET", "a", "1") + aofRec("INCR", "n")))
	f.Add([]byte("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET"))
	f.Add([]byte("#x\r\n*1\r\n$5\r\nMULTI\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "a.aof")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s := newServer(Config{MaxReq: 1 << 20})
		var log bytes.Buffer
		if err := s.loadAOF(path, &log); err != nil {
			return
		}
		after, _ := os.ReadFile(path)
		if !bytes.HasPrefix(data, after) {
			t.Fatalf("the loader changed more than the tail: %q -> %q", data, after)
		}
	})
}

// TestAOFLoadKeepsLargeValues: a large value in the AOF is read into a
// buffer of its own and kept, not copied again.
func TestAOFLoadKeepsLargeValues(t *testing.T) {
	const size = 16 << 20
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	if err := os.WriteFile(path, []byte(aofRec("SET", "big", strings.Repeat("b", size))+aofRec("SET", "small", "s")), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(Config{MaxReq: 512 << 20})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := s.loadAOF(path, io.Discard); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if v, _ := keyVal(s, 0, "big"); len(v) != size || v[size-1] != 'b' {
		t.Fatalf("big: %d bytes", len(v))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > size*3/2 {
		t.Fatalf("loading a %d MiB value allocated %d MiB", size>>20, got>>20)
	}
}
