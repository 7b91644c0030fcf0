package main

// Sets as inputs of ZUNION, ZINTER, ZDIFF, their STORE forms and
// ZINTERCARD: every member with score 1, as Redis.

func init() {
	zsetSetMembers = func(e *entry) (func(fn func(m string) bool), func(m string) bool, int) {
		o := valueOf[setObj](e)
		each := func(fn func(m string) bool) {
			var buf [24]byte
			for i := 0; i < o.length(); i++ {
				if !fn(string(o.memberAt(i, buf[:0]))) {
					return
				}
			}
		}
		has := func(m string) bool { return o.has([]byte(m)) }
		return each, has, o.length()
	}
}
