package main

import (
	"strings"
	"testing"
)

func TestRedisFlags(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:6380", MaxReq: 1, AppendFsync: "everysec"}
	if err := applyRedisFlags(&cfg, 7000, "0.0.0.0", "no", "yes", "/d", "a.aof"); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:7000" || cfg.ProtectedMode || cfg.AOF != "/d/a.aof" {
		t.Fatalf("%+v", cfg)
	}
	if w := exposureWarning(cfg); !strings.Contains(w, "protected mode is off and no password") {
		t.Fatalf("warning: %q", w)
	}
	for _, tc := range []struct {
		cfg                   Config
		port                  int
		protected, appendonly string
	}{
		{Config{Addr: ":1", MaxReq: -5, AppendFsync: "no"}, 0, "yes", "no"},
		{Config{Addr: ":1", MaxReq: 0, AppendFsync: "no"}, 0, "yes", "no"},
		{Config{Addr: ":1", MaxReq: 1, AppendFsync: "no"}, 70000, "yes", "no"},
		{Config{Addr: ":1", MaxReq: 1, AppendFsync: "no"}, 0, "maybe", "no"},
		{Config{Addr: ":1", MaxReq: 1, AppendFsync: "no"}, 0, "yes", "1"},
		{Config{Addr: ":1", MaxReq: 1, AppendFsync: "sometimes"}, 0, "yes", "no"},
	} {
		if err := applyRedisFlags(&tc.cfg, tc.port, "", tc.protected, tc.appendonly, ".", "x"); err == nil {
			t.Errorf("%+v port %d protected %q appendonly %q: accepted", tc.cfg, tc.port, tc.protected, tc.appendonly)
		}
	}
}
