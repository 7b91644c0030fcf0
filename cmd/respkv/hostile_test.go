package main

import (
	"strings"
	"testing"
)

// The reproducers of issue 9 and their classes: integer arguments at their
// limits and buffers that must be zeroed where Redis zeroes them. The
// expected replies are redis-server 7.0.15's.

func TestSetrangeOverflow(t *testing.T) {
	k := newCore(t)
	k.s.cfg.MaxReq = 1 << 20
	for _, tc := range []struct{ cmd, want string }{
		{"SETRANGE k 9223372036854775807 x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SET k v", "OK"},
		{"SETRANGE k 9223372036854775807 x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SETRANGE k 9223372036854775806 xy", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SETRANGE k 1048575 x", "(integer) 1048576"},
		{"SETRANGE k 1048576 x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SETRANGE k -1 x", "(error) ERR offset is out of range"},
		{"SETRANGE k -9223372036854775808 x", "(error) ERR offset is out of range"},
		{"SETRANGE k 9223372036854775808 x", "(error) ERR value is not an integer or out of range"},
		{"SETRANGE n 9223372036854775807 \"\"", "(integer) 0"},
		{"SETRANGE k 9223372036854775807 \"\"", "(integer) 1048576"},
		{"SETBIT b 9223372036854775807 1", "(error) ERR bit offset is not an integer or out of range"},
		{"SETBIT b 8388607 1", "(integer) 0"},
		{"SETBIT b 8388608 1", "(error) ERR bit offset is not an integer or out of range"},
		{"GETBIT b -1", "(error) ERR bit offset is not an integer or out of range"},
		{"APPEND k x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SET s abc", "OK"},
		{"GETRANGE s 0 9223372036854775807", `"abc"`},
		{"GETRANGE s -9223372036854775808 -1", `"abc"`},
		{"GETRANGE s 9223372036854775807 -9223372036854775808", `""`},
		{"GETRANGE s -9223372036854775808 9223372036854775807", `"abc"`},
		{"GETRANGE s -1 -9223372036854775808", `""`},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
}

func TestSetrangeZeroesGap(t *testing.T) {
	k := newCore(t)
	k.do("SET k SECRET-PASSWORD-1234")
	k.do("SET k x")
	if got, want := k.do("SETRANGE k 18 ZZ"), "(integer) 20"; got != want {
		t.Fatalf("SETRANGE: %s, want %s", got, want)
	}
	if got, want := k.do("GET k"), `"x`+strings.Repeat(`\x00`, 17)+`ZZ"`; got != want {
		t.Fatalf("GET: %s, want %s", got, want)
	}
	// SETBIT and APPEND after a shrink: no old byte comes back.
	k.do("SET b SECRET-PASSWORD-1234")
	k.do("SET b x")
	k.do("SETBIT b 159 1")
	if got, want := k.do("GET b"), `"x`+strings.Repeat(`\x00`, 18)+`\x01"`; got != want {
		t.Fatalf("GET after SETBIT: %s, want %s", got, want)
	}
	k.do("SET a SECRET-PASSWORD-1234")
	k.do("SET a x")
	k.do("APPEND a y")
	if got, want := k.do("GET a"), `"xy"`; got != want {
		t.Fatalf("GET after APPEND: %s, want %s", got, want)
	}
	// INCR rewrites the value in place.
	k.do("SET i 1234567890123")
	k.do("SET i 5")
	k.do("INCR i")
	if got, want := k.do("GET i"), `"6"`; got != want {
		t.Fatalf("GET after INCR: %s, want %s", got, want)
	}
	k.do("SETRANGE i 3 x")
	if got, want := k.do("GET i"), `"6\x00\x00x"`; got != want {
		t.Fatalf("GET after INCR+SETRANGE: %s, want %s", got, want)
	}
}

// Looking up the second key of RENAME, COPY or LCS may delete it (expired)
// and move the first key's entry: the first key must be found again.
func TestTwoKeysOneExpired(t *testing.T) {
	for _, tc := range []struct{ cmd, want, check, after string }{
		{"RENAME src dst", "OK", "GET dst", `"v"`},
		{"COPY src dst", "(integer) 1", "GET dst", `"v"`},
		{"LCS src dst", `""`, "GET src", `"v"`},
	} {
		k := newCore(t)
		k.do("SET dst old PXAT 1") // expired, not yet deleted
		k.do("SET src v")          // the last entry: deleting dst moves it
		if got := k.do(tc.cmd); got != tc.want {
			t.Fatalf("%s: %s, want %s", tc.cmd, got, tc.want)
		}
		if got := k.do(tc.check); got != tc.after {
			t.Fatalf("%s then %s: %s, want %s", tc.cmd, tc.check, got, tc.after)
		}
	}
}
