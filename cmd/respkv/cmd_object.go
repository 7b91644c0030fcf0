package main

// OBJECT, FUNCTION (what Redis 7 tools send at start) and LCS.

func cmdObject(s *server, c *client, args [][]byte) {
	sub := args[1]
	if eqFold(sub, "help") {
		c.help([]string{
			"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"ENCODING <key>",
			"    Return the kind of internal representation used in order to store the value",
			"    associated with a <key>.",
			"FREQ <key>",
			"    Return the access frequency index of the <key>. The returned integer is",
			"    proportional to the logarithm of the recent access frequency of the key.",
			"IDLETIME <key>",
			"    Return the idle time of the <key>, that is the approximated number of",
			"    seconds elapsed since the last access to the key.",
			"REFCOUNT <key>",
			"    Return the number of references of the value associated with the specified",
			"    <key>.",
			"HELP",
			"    Print this help.",
		})
		return
	}
	i := s.lookupKey(c.db, args[2])
	if i < 0 {
		c.null()
		return
	}
	e := &s.dbs[c.db].ents[i]
	switch {
	case eqFold(sub, "encoding"):
		if e.typ != typeString {
			c.bulkStr(e.object().encoding())
			return
		}
		switch e.enc {
		case encInt:
			c.bulkStr("int")
		case encEmbstr:
			c.bulkStr("embstr")
		default:
			c.bulkStr("raw")
		}
	case eqFold(sub, "refcount"):
		// Redis shares the integers 0..9999 (refcount INT_MAX).
		if v, ok := parseInt(e.val); ok && e.typ == typeString && e.enc == encInt && v >= 0 && v < 10000 {
			c.int(2147483647)
		} else {
			c.int(1)
		}
	case eqFold(sub, "idletime"):
		c.int(0)
	case eqFold(sub, "freq"):
		c.errReply("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
	default:
		c.errReply(errUnknownSub("object", sub))
	}
}

func cmdFunction(s *server, c *client, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "flush"):
		if len(args) > 3 {
			c.errReply("ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.")
			return
		}
		if len(args) == 3 && !eqFold(args[2], "sync") && !eqFold(args[2], "async") {
			c.errReply("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
			return
		}
		s.dirty++
		c.ok()
	case eqFold(sub, "list"):
		withCode, lib := false, false
		for j := 2; j < len(args); j++ {
			switch {
			case !withCode && eqFold(args[j], "withcode"):
				withCode = true
			case !lib && eqFold(args[j], "libraryname"):
				if j >= len(args)-1 {
					c.errReply("ERR library name argument was not given")
					return
				}
				lib = true
				j++
			default:
				c.errReply("ERR Unknown argument " + string(args[j]))
				return
			}
		}
		c.array(0) // no libraries: scripting is not implemented
	default:
		c.errReply(errUnknownSub("function", sub))
	}
}

func cmdLcs(s *server, c *client, args [][]byte) {
	d := s.dbs[c.db]
	ia := s.lookupRead(c.db, args[1])
	ib := s.lookupRead(c.db, args[2])
	if ia >= 0 {
		ia = d.find(args[1]) // looking b up may have deleted it and moved a
	}
	if (ia >= 0 && d.ents[ia].typ != typeString) || (ib >= 0 && d.ents[ib].typ != typeString) {
		c.errReply("ERR The specified keys must contain string values")
		return
	}
	var a, b []byte
	if ia >= 0 {
		a = d.ents[ia].val
	}
	if ib >= 0 {
		b = d.ents[ib].val
	}
	getLen, getIdx, withLen := false, false, false
	var minLen int64
	for j := 3; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "idx"):
			getIdx = true
		case eqFold(args[j], "len"):
			getLen = true
		case eqFold(args[j], "withmatchlen"):
			withLen = true
		case eqFold(args[j], "minmatchlen") && more > 0:
			v, ok := parseInt(args[j+1])
			if !ok {
				c.errReply(errNotInt)
				return
			}
			minLen = max(v, 0)
			j++
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if getLen && getIdx {
		c.errReply("ERR If you want both the length and indexes, please just use IDX.")
		return
	}
	if int64(len(a)) >= 1<<32-2 || int64(len(b)) >= 1<<32-2 {
		c.errReply("ERR String too long for LCS")
		return
	}
	alen, blen := len(a), len(b)
	// The table costs 4 bytes per cell, bounded as Redis bounds it.
	cells := uint64(alen+1) * uint64(blen+1)
	if cells*4 > uint64(s.cfg.MaxReq) {
		c.errReply("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
		return
	}
	w := blen + 1
	lcs := make([]uint32, cells)
	for i := 1; i <= alen; i++ {
		for j := 1; j <= blen; j++ {
			if a[i-1] == b[j-1] {
				lcs[j+i*w] = lcs[(j-1)+(i-1)*w] + 1
			} else {
				lcs[j+i*w] = max(lcs[j+(i-1)*w], lcs[(j-1)+i*w])
			}
		}
	}
	total := lcs[blen+alen*w]
	idx := total
	computeLCS := getIdx || !getLen
	var result []byte
	if computeLCS {
		result = make([]byte, idx)
	}
	type match struct{ as, ae, bs, be, n uint32 }
	var matches []match
	i, j := uint32(alen), uint32(blen)
	aStart, aEnd, bStart, bEnd := uint32(alen), uint32(0), uint32(0), uint32(0)
	for computeLCS && i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			result[idx-1] = a[i-1]
			if aStart == uint32(alen) {
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			} else if aStart == i && bStart == j {
				aStart--
				bStart--
			} else {
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if lcs[j+(i-1)*uint32(w)] > lcs[(j-1)+i*uint32(w)] {
				i--
			} else {
				j--
			}
			if aStart != uint32(alen) {
				emit = true
			}
		}
		n := aEnd - aStart + 1
		if emit {
			if minLen == 0 || int64(n) >= minLen {
				matches = append(matches, match{aStart, aEnd, bStart, bEnd, n})
			}
			aStart = uint32(alen)
		}
	}
	switch {
	case getIdx:
		c.array(4)
		c.bulkStr("matches")
		c.array(len(matches))
		for _, m := range matches {
			if withLen {
				c.array(3)
			} else {
				c.array(2)
			}
			c.array(2)
			c.int(int64(m.as))
			c.int(int64(m.ae))
			c.array(2)
			c.int(int64(m.bs))
			c.int(int64(m.be))
			if withLen {
				c.int(int64(m.n))
			}
		}
		c.bulkStr("len")
		c.int(int64(total))
	case getLen:
		c.int(int64(total))
	default:
		c.bulk(result)
	}
}
