package main

// globMatch is Redis's stringmatchlen: glob-style patterns with *, ?,
// [...] (ranges, ^ negation) and \ escapes, case-sensitive.
func globMatch(pattern, str []byte) bool {
	return globMatchDepth(pattern, str, 0)
}

func globMatchDepth(p, s []byte, depth int) bool {
	if depth > 1000 {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchDepth(p[1:], s, depth+1) {
					return true
				}
				s = s[1:]
			}
			return globMatchDepth(p[1:], s, depth+1)
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) == 0 {
					break
				}
				if p[0] == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end := p[0], p[2]
					if start > end {
						start, end = end, start
					}
					if s[0] >= start && s[0] <= end {
						match = true
					}
					p = p[2:]
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if len(p) == 0 {
				// Redis treats an unterminated class as ending at the pattern end.
				p = p[:0]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if len(p) > 0 {
				p = p[1:]
			}
			if len(p) == 0 && len(s) == 0 {
				return true
			}
			continue
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
	}
	if len(s) == 0 {
		for len(p) > 0 && p[0] == '*' {
			p = p[1:]
		}
		return len(p) == 0
	}
	return false
}
