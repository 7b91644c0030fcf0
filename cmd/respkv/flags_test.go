package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedisFlags(t *testing.T) {
	cfg, _, err := parseArgs(strings.Fields("-port 7000 -bind 0.0.0.0 -protected-mode no -appendonly yes -dir /d -appendfilename a.aof -requirepass pw -appendfsync always"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:7000" || cfg.ProtectedMode || cfg.AOF != "/d/a.aof" || cfg.RequirePass != "pw" || cfg.AppendFsync != "always" {
		t.Fatalf("%+v", cfg)
	}
	cfg.RequirePass = ""
	if w := exposureWarning(cfg); !strings.Contains(w, "protected mode is off and no password") {
		t.Fatalf("warning: %q", w)
	}
	// The older flags still work.
	cfg, _, err = parseArgs(strings.Fields("-addr 127.0.0.1:0 -maxreq 1024 -aof x.aof"), io.Discard)
	if err != nil || cfg.Addr != "127.0.0.1:0" || cfg.MaxReq != 1024 || cfg.AOF != "x.aof" || !cfg.ProtectedMode {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range []string{"-maxreq -5", "-maxreq 0", "-port 70000", "-port -1", "-protected-mode maybe",
		"-appendonly 1", "-appendfsync sometimes", "-proto-max-bulk-len 1k", "-bind", "-nosuchflag 1", "a.conf b.conf",
		"-auto-aof-rewrite-min-size 1x", "-auto-aof-rewrite-percentage -1", "-appendfilename a/b"} {
		if _, _, err := parseArgs(strings.Fields(bad), io.Discard); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// The configuration file takes Redis's lines; flags override it.
func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "respkv.conf")
	os.WriteFile(path, []byte("# comment\n\nport 7001\nbind 127.0.0.1\nrequirepass \"a b\"\nappendonly yes\ndir /data\nAPPENDFSYNC no\n"), 0o600)
	cfg, _, err := parseArgs([]string{"-port", "7002", path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7002" || cfg.RequirePass != "a b" || cfg.AOF != "/data/appendonly.aof" || cfg.AppendFsync != "no" {
		t.Fatalf("%+v", cfg)
	}
	for _, bad := range []string{"nosuch 1\n", "port\n", "port abc\n", "databases 16\n", "requirepass \"x\n"} {
		os.WriteFile(path, []byte("port 7001\n"+bad), 0o600)
		if _, _, err := parseArgs([]string{path}, io.Discard); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// CONFIG SET: all or nothing, Redis 7.0's texts, and the settings take
// effect (requirepass asks new connections for a password).
func TestConfigSet(t *testing.T) {
	k := newCore(t)
	for _, tc := range []struct{ cmd, want string }{
		{"CONFIG SET port 1", "(error) ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"},
		{"CONFIG SET nosuch 1 port 1", "(error) ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"},
		{"CONFIG SET requirepass a requirepass b", "(error) ERR CONFIG SET failed (possibly related to argument 'requirepass') - duplicate parameter"},
		{"CONFIG SET protected-mode maybe", "(error) ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'"},
		{"CONFIG SET requirepass pw protected-mode maybe", "(error) ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'"},
		{"CONFIG GET requirepass", `["requirepass", ""]`},
		{"CONFIG SET requirepass a b", "(error) ERR syntax error"},
		{"CONFIG SET save \"\"", "OK"},
		{"CONFIG SET REQUIREPASS pw PROTECTED-MODE no", "OK"},
		{"CONFIG GET requirepass", `["requirepass", "pw"]`},
		{"CONFIG GET protected-mode", `["protected-mode", "no"]`},
		{"PING", "PONG"},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
	k.c = k.s.newClient(nil)
	if got := k.do("PING"); got != "(error) NOAUTH Authentication required." {
		t.Errorf("new client after CONFIG SET requirepass: %s", got)
	}
}
