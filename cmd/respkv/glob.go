package main

// globMatch reports whether str matches the glob-style pattern, with the
// semantics of Redis 7.0's stringmatchlen: * (any run, not empty at the
// very end of the string, see below), ? (one byte), [...] (set, a-z ranges
// in either order, ^ negation, \ escapes, an unterminated set runs to the
// end of the pattern), \x (x literally; a trailing \ is literal). Bytes are
// compared as C's signed char in ranges, as Redis does on x86.
//
// Redis's quirks are kept: the empty string matches only the empty pattern
// (KEYS and SCAN treat the pattern "*" separately), and a pattern is done
// when the string is, after skipping trailing stars.
//
// It runs in O(len(pattern) × len(str)) steps and constant stack: like
// Redis since 7.0.9 (CVE-2022-36021), a failure after the last star is
// never retried with an earlier star taking more bytes. Redis's recursion
// gives the same results; here the backtracking keeps one position.
func globMatch(pattern, str []byte) bool {
	ok, _ := globMatchSteps(pattern, str, false)
	return ok
}

// globMatchFold is globMatch ignoring ASCII case (CONFIG GET).
func globMatchFold(pattern, str []byte) bool {
	ok, _ := globMatchSteps(pattern, str, true)
	return ok
}

// globMatchSteps is globMatch that also returns the number of tokens
// compared, for tests of the bound.
func globMatchSteps(p, s []byte, fold bool) (match bool, steps int) {
	if len(p) == 0 || len(s) == 0 {
		return len(p) == 0 && len(s) == 0, 0
	}
	pi, si := 0, 0
	starP, starS := -1, -1 // the pattern after the last star, and where its try began
	for {
		// Invariant: si < len(s).
		if pi < len(p) && p[pi] == '*' {
			for pi < len(p) && p[pi] == '*' {
				pi++
			}
			if pi == len(p) {
				return true, steps
			}
			starP, starS = pi, si
			continue
		}
		ok := false
		if pi < len(p) {
			var next int
			steps++
			ok, next = globToken(p, pi, s[si], fold)
			if ok {
				pi, si = next, si+1
				if si == len(s) {
					for pi < len(p) && p[pi] == '*' {
						pi++
					}
					if pi == len(p) {
						return true, steps
					}
					ok = false // the string ended first
				} else {
					continue
				}
			}
		}
		// A mismatch, the pattern ending first, or the string ending
		// first: let the last star take one more byte. It never takes the
		// last byte (Redis's star loop tries non-empty rests only).
		if starP < 0 || starS+1 >= len(s) {
			return false, steps
		}
		starS++
		pi, si = starP, starS
	}
}

// globToken matches the single-byte token at p[pi] (not '*') against c and
// returns the position after the token.
func globToken(p []byte, pi int, c byte, fold bool) (bool, int) {
	at := func(i int) byte { // Redis reads the pattern's NUL terminator
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	switch p[pi] {
	case '?':
		return true, pi + 1
	case '[':
		pi++
		not := at(pi) == '^'
		if not {
			pi++
		}
		match := false
		for {
			rest := len(p) - pi // Redis's patternLen
			if at(pi) == '\\' && rest >= 2 {
				pi++
				if p[pi] == c {
					match = true
				}
			} else if at(pi) == ']' {
				break
			} else if rest == 0 {
				pi-- // the set runs to the end of the pattern
				break
			} else if rest >= 3 && p[pi+1] == '-' {
				start, end, x := int(int8(p[pi])), int(int8(p[pi+2])), int(int8(c))
				if start > end {
					start, end = end, start
				}
				if fold {
					start, end, x = lowerInt(start), lowerInt(end), lowerInt(x)
				}
				pi += 2
				if x >= start && x <= end {
					match = true
				}
			} else if p[pi] == c || fold && lower(p[pi]) == lower(c) {
				match = true
			}
			pi++
		}
		pi++ // past the ']' (or the end)
		if not {
			match = !match
		}
		return match, pi
	case '\\':
		if pi+1 < len(p) {
			pi++
		}
		fallthrough
	default:
		return p[pi] == c || fold && lower(p[pi]) == lower(c), pi + 1
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerInt(c int) int {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
