package main

// Blocking list commands: BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH.

func cmdBlpop(s *server, c *client, args [][]byte) { s.blockingPop(c, args, true) }
func cmdBrpop(s *server, c *client, args [][]byte) { s.blockingPop(c, args, false) }

// blockingPop is BLPOP and BRPOP: the first non-empty list of the keys is
// popped at once (propagated as LPOP/RPOP); otherwise the client blocks.
func (s *server) blockingPop(c *client, args [][]byte, front bool) {
	deadline, ok := s.parseTimeout(c, args[len(args)-1])
	if !ok {
		return
	}
	keys := args[1 : len(args)-1]
	for _, k := range keys {
		l, ok := writeList(s, c, k)
		if !ok {
			return
		}
		if l != nil {
			s.popOneReply(c, c.db, k, l, front)
			return
		}
	}
	if !s.mayBlock(c) {
		c.out = append(c.out, "*-1\r\n"...)
		return
	}
	s.blockClient(c, keys, deadline, func(s *server, c *client, key []byte) bool {
		l := s.servableList(c, key)
		if l == nil {
			return false
		}
		s.popOneReply(c, c.db, key, l, front)
		return true
	}, nil)
}

// servableList returns the list at key in c's database, or nil when the
// key holds another type (a blocked client stays blocked).
func (s *server) servableList(c *client, key []byte) *list {
	d := s.dbs[c.db]
	i := d.find(key)
	if i < 0 || d.ents[i].typ != typeList {
		return nil
	}
	s.ownObject(&d.ents[i])
	return valueOf[list](&d.ents[i])
}

// popOneReply pops one element of l (at key) and replies [key, element],
// propagated as LPOP/RPOP key.
func (s *server) popOneReply(c *client, dbi int, key []byte, l *list, front bool) {
	c.array(2)
	c.bulk(key)
	c.bulk(l.pop(front))
	s.written(dbi, key)
	op := []byte("RPOP")
	if front {
		op = []byte("LPOP")
	}
	s.propagate(dbi, op, key)
}

func cmdBlmpop(s *server, c *client, args [][]byte) {
	// Redis parses the keys and options first, then the timeout.
	keys, front, count, ok := mpopArgs(c, args, 2)
	if !ok {
		return
	}
	deadline, ok := s.parseTimeout(c, args[1])
	if !ok {
		return
	}
	for _, k := range keys {
		l, ok := writeList(s, c, k)
		if !ok {
			return
		}
		if l != nil {
			s.popRangeReply(c, c.db, k, l, front, count)
			return
		}
	}
	if !s.mayBlock(c) {
		c.out = append(c.out, "*-1\r\n"...)
		return
	}
	s.blockClient(c, keys, deadline, func(s *server, c *client, key []byte) bool {
		l := s.servableList(c, key)
		if l == nil {
			return false
		}
		s.popRangeReply(c, c.db, key, l, front, count)
		return true
	}, nil)
}

func cmdBlmove(s *server, c *client, args [][]byte) {
	from, ok1 := listWhere(args[3])
	to, ok2 := listWhere(args[4])
	if !ok1 || !ok2 {
		c.errReply(errSyntax)
		return
	}
	deadline, ok := s.parseTimeout(c, args[5])
	if !ok {
		return
	}
	s.blmoveGeneric(c, args[1], args[2], from, to, deadline, false)
}

func cmdBrpoplpush(s *server, c *client, args [][]byte) {
	deadline, ok := s.parseTimeout(c, args[3])
	if !ok {
		return
	}
	s.blmoveGeneric(c, args[1], args[2], false, true, deadline, true)
}

// blmoveGeneric is BLMOVE and BRPOPLPUSH (rpoplpush: propagated as
// RPOPLPUSH rather than LMOVE).
func (s *server) blmoveGeneric(c *client, src, dst []byte, from, to bool, deadline int64, rpoplpush bool) {
	l, ok := writeList(s, c, src)
	if !ok {
		return
	}
	propagate := func(s *server, dbi int) {
		if rpoplpush {
			s.propagate(dbi, []byte("RPOPLPUSH"), src, dst)
		} else {
			s.propagate(dbi, []byte("LMOVE"), src, dst, whereName(from), whereName(to))
		}
	}
	if l != nil {
		if s.lmove(c, c.db, src, dst, from, to) {
			propagate(s, c.db)
		}
		return
	}
	if !s.mayBlock(c) {
		c.null()
		return
	}
	src = append([]byte(nil), src...) // args do not outlive the command
	dst = append([]byte(nil), dst...)
	s.blockClient(c, [][]byte{src}, deadline, func(s *server, c *client, key []byte) bool {
		if s.servableList(c, key) == nil {
			return false
		}
		// A destination of another type: WRONGTYPE, and the client is
		// unblocked (Redis 7.0).
		if s.lmove(c, c.db, src, dst, from, to) {
			propagate(s, c.db)
		}
		return true
	}, nil)
}
