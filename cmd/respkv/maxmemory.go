package main

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// parseMemory parses a size as Redis's config does: a number of bytes,
// optionally with a unit: k, m, g (powers of 1000) or kb, mb, gb (powers of
// 1024), in any case. Negative sizes and overflow are errors.
func parseMemory(v string) (int64, error) {
	s := strings.ToLower(v)
	mul := int64(1)
	for _, u := range []struct {
		suf string
		mul int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mul = s[:len(s)-len(u.suf)], u.mul
			break
		}
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("argument must be a memory value")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, errors.New("argument must be a memory value")
	}
	return n * mul, nil
}
