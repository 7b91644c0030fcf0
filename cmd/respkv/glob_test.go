package main

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// redisMatch is a line-by-line transcription of Redis 7.0.15's
// stringmatchlen (util.c), recursion and skipLongerMatches included, used as
// the reference for globMatch. Out-of-range reads return the NUL
// terminator, as in C.
func redisMatch(p, s []byte, nocase bool, skip *bool) bool {
	at := func(b []byte, i int) int {
		if i < len(b) {
			return int(int8(b[i]))
		}
		return 0
	}
	tolower := func(c int) int {
		if 'A' <= c && c <= 'Z' {
			return c + 32
		}
		return c
	}
	pi, si := 0, 0
	plen, slen := len(p), len(s)
	for plen > 0 && slen > 0 {
		switch at(p, pi) {
		case '*':
			for plen > 0 && at(p, pi+1) == '*' {
				pi++
				plen--
			}
			if plen == 1 {
				return true
			}
			for slen > 0 {
				if redisMatch(p[pi+1:pi+plen], s[si:si+slen], nocase, skip) {
					return true
				}
				if *skip {
					return false
				}
				si++
				slen--
			}
			*skip = true
			return false
		case '?':
			si++
			slen--
		case '[':
			pi++
			plen--
			not := at(p, pi) == '^'
			if not {
				pi++
				plen--
			}
			match := false
			for {
				if at(p, pi) == '\\' && plen >= 2 {
					pi++
					plen--
					if at(p, pi) == at(s, si) {
						match = true
					}
				} else if at(p, pi) == ']' {
					break
				} else if plen == 0 {
					pi--
					plen++
					break
				} else if plen >= 3 && at(p, pi+1) == '-' {
					start, end, c := at(p, pi), at(p, pi+2), at(s, si)
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, c = tolower(start), tolower(end), tolower(c)
					}
					pi += 2
					plen -= 2
					if c >= start && c <= end {
						match = true
					}
				} else if !nocase && at(p, pi) == at(s, si) || nocase && tolower(at(p, pi)) == tolower(at(s, si)) {
					match = true
				}
				pi++
				plen--
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			si++
			slen--
		case '\\':
			if plen >= 2 {
				pi++
				plen--
			}
			fallthrough
		default:
			if !nocase && at(p, pi) != at(s, si) || nocase && tolower(at(p, pi)) != tolower(at(s, si)) {
				return false
			}
			si++
			slen--
		}
		pi++
		plen--
		if slen == 0 {
			for at(p, pi) == '*' && plen > 0 {
				pi++
				plen--
			}
			break
		}
	}
	return plen == 0 && slen == 0
}

// TestGlobAgainstRedis compares globMatch with the transcription of Redis's
// matcher on random patterns and strings over a small alphabet (so that
// they match often) with every special character.
func TestGlobAgainstRedis(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	patAlpha := []byte(`ab*?[]^-\A` + "\xff\x00")
	strAlpha := []byte("ab-]^\\A*?[\xff\x00")
	n := 300000
	if testing.Short() {
		n = 30000
	}
	for i := 0; i < n; i++ {
		p := make([]byte, r.IntN(9))
		for j := range p {
			p[j] = patAlpha[r.IntN(len(patAlpha))]
		}
		s := make([]byte, r.IntN(7))
		for j := range s {
			s[j] = strAlpha[r.IntN(len(strAlpha))]
		}
		for _, fold := range []bool{false, true} {
			skip := false
			want := redisMatch(p, s, fold, &skip)
			got, _ := globMatchSteps(p, s, fold)
			if got != want {
				t.Fatalf("pattern %q string %q fold %v: got %v, Redis %v", p, s, fold, got, want)
			}
		}
	}
}

// TestGlobBounded: the CVE-2022-36021 pattern on a 10,000-byte key takes
// at most (len(pattern)+1) × (len(key)+1) token comparisons (it took
// seconds on a 50-byte key with the exponential matcher), and a pattern of
// a million stars uses no recursion.
func TestGlobBounded(t *testing.T) {
	pat := []byte("*a*a*a*a*a*a*a*b")
	key := []byte(strings.Repeat("a", 10000))
	ok, steps := globMatchSteps(pat, key, false)
	if ok {
		t.Fatal("matched")
	}
	if bound := (len(pat) + 1) * (len(key) + 1); steps > bound {
		t.Fatalf("%d steps, bound %d", steps, bound)
	}
	t.Logf("%d steps", steps)
	stars := []byte(strings.Repeat("*a", 1_000_000) + "b")
	if ok, steps := globMatchSteps(stars, []byte(strings.Repeat("a", 100)), false); ok || steps > 1000 {
		t.Fatalf("a million stars: %v after %d steps", ok, steps)
	}
	// Through KEYS: the reply is computed, and counted, without blowing up.
	k := newCore(t)
	k.doArgs([]byte("SET"), key, []byte("v"))
	if got := k.do("KEYS *a*a*a*a*a*a*a*b"); got != "[]" {
		t.Fatalf("KEYS: %s", got)
	}
	if got := k.do("SCAN 0 MATCH *a*a*a*a*a*a*a*b COUNT 100"); got != `["0", []]` {
		t.Fatalf("SCAN: %s", got)
	}
}
