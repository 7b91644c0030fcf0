package main

func cmdMulti(s *server, c *client, args [][]byte) {
	if c.multi {
		c.errReply("ERR MULTI calls can not be nested")
		return
	}
	c.multi = true
	c.multiDirty = false
	c.ok()
}

func (c *client) discardMulti() {
	c.multi = false
	c.multiDirty = false
	c.queueWrites = false
	clear(c.queue)
	c.queue = c.queue[:0]
}

func cmdDiscard(s *server, c *client, args [][]byte) {
	if !c.multi {
		c.errReply("ERR DISCARD without MULTI")
		return
	}
	c.discardMulti()
	s.unwatchAll(c)
	c.ok()
}

// watchExpired reports whether a key that was live when watched has expired.
func (s *server) watchExpired(c *client) bool {
	for _, w := range c.watching {
		if w.expired {
			continue // already expired when watched
		}
		d := s.dbs[w.db]
		i := d.find([]byte(w.key))
		if i >= 0 && s.expired(&d.ents[i]) {
			return true
		}
	}
	return false
}

func cmdExec(s *server, c *client, args [][]byte) {
	if !c.multi {
		c.errReply("ERR EXEC without MULTI")
		return
	}
	if c.multiDirty {
		c.errReply("EXECABORT Transaction discarded because of previous errors.")
		c.discardMulti()
		s.unwatchAll(c)
		return
	}
	if c.casDirty || s.watchExpired(c) {
		c.out = append(c.out, "*-1\r\n"...)
		c.discardMulti()
		s.unwatchAll(c)
		return
	}
	s.unwatchAll(c)
	q := c.queue
	c.queue = nil
	c.multi = false
	c.array(len(q))
	s.execDepth++
	s.multiSent = false
	for _, qc := range q {
		s.exec(c, qc.cmd, qc.args)
	}
	s.execDepth--
	if s.multiSent {
		s.multiSent = false
		s.aof.append(-1, []byte("EXEC"))
	}
	clear(q)
	c.queue = q[:0]
	s.propCustom = true // EXEC itself is not propagated
}

func cmdWatch(s *server, c *client, args [][]byte) {
	if c.multi {
		c.errReply("ERR WATCH inside MULTI is not allowed")
		return
	}
	if len(c.watching) == 0 {
		s.nwatched++
	}
	for _, k := range args[1:] {
		key := string(k)
		dup := false
		for _, w := range c.watching {
			if w.db == c.db && w.key == key {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		d := s.dbs[c.db]
		i := d.find(k)
		expired := i >= 0 && s.expired(&d.ents[i])
		c.watching = append(c.watching, watchedKey{db: c.db, key: key, expired: expired})
		if s.watched[c.db] == nil {
			s.watched[c.db] = make(map[string][]*client)
		}
		s.watched[c.db][key] = append(s.watched[c.db][key], c)
	}
	c.ok()
}

func cmdUnwatch(s *server, c *client, args [][]byte) {
	s.unwatchAll(c)
	c.ok()
}
