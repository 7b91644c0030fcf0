package main

// COMMAND: the command table as Redis describes it.

func (s *server) commandInfo(c *client, cmd *command) {
	c.array(10)
	c.bulkStr(cmd.name)
	c.int(int64(cmd.arity))
	fl := cmd.flagNames()
	c.array(len(fl))
	for _, f := range fl {
		c.simple(f)
	}
	c.int(int64(cmd.first))
	c.int(int64(cmd.last))
	c.int(int64(cmd.step))
	cats := cmd.aclCategories()
	c.array(len(cats))
	for _, a := range cats {
		c.simple(a)
	}
	c.array(0) // tips
	c.array(0) // key specs
	c.array(0) // subcommands
}

func (s *server) commandDocs(c *client, cmd *command) {
	c.bulkStr(cmd.name)
	c.array(6)
	c.bulkStr("summary")
	c.bulkStr(cmd.summary)
	c.bulkStr("since")
	c.bulkStr(cmd.since)
	c.bulkStr("group")
	c.bulkStr(cmd.group)
}

func cmdCommand(s *server, c *client, args [][]byte) {
	if len(args) == 1 {
		c.array(len(commandList))
		for _, cmd := range commandList {
			s.commandInfo(c, cmd)
		}
		return
	}
	sub := args[1]
	switch {
	case eqFold(sub, "count"):
		if len(args) != 2 {
			c.errReply(errArity("command|count"))
			return
		}
		c.int(int64(len(commandList)))
	case eqFold(sub, "info"):
		if len(args) == 2 {
			c.array(len(commandList))
			for _, cmd := range commandList {
				s.commandInfo(c, cmd)
			}
			return
		}
		c.array(len(args) - 2)
		for _, n := range args[2:] {
			if cmd := lookup(n); cmd != nil {
				s.commandInfo(c, cmd)
			} else {
				c.out = append(c.out, "*-1\r\n"...)
			}
		}
	case eqFold(sub, "docs"):
		var list []*command
		if len(args) == 2 {
			list = commandList
		} else {
			for _, n := range args[2:] {
				if cmd := lookup(n); cmd != nil {
					list = append(list, cmd)
				}
			}
		}
		c.array(2 * len(list))
		for _, cmd := range list {
			s.commandDocs(c, cmd)
		}
	case eqFold(sub, "list"):
		c.array(len(commandList))
		for _, cmd := range commandList {
			c.bulkStr(cmd.name)
		}
	case eqFold(sub, "getkeys"):
		if len(args) < 3 {
			c.errReply(errArity("command|getkeys"))
			return
		}
		cmd := lookup(args[2])
		if cmd == nil {
			c.errReply("ERR Invalid command specified")
			return
		}
		cargs := args[2:]
		if (cmd.arity > 0 && len(cargs) != cmd.arity) || len(cargs) < -cmd.arity {
			c.errReply("ERR Invalid number of arguments specified for command")
			return
		}
		if cmd.first == 0 {
			c.errReply("ERR The command has no key arguments")
			return
		}
		last := cmd.last
		if last < 0 {
			last = len(cargs) + last
		}
		var keys [][]byte
		for j := cmd.first; j <= last && j < len(cargs); j += cmd.step {
			keys = append(keys, cargs[j])
		}
		c.array(len(keys))
		for _, k := range keys {
			c.bulk(k)
		}
	case eqFold(sub, "help"):
		help := []string{
			"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"(no subcommand)", "    Return details about all Redis commands.",
			"COUNT", "    Return the total number of commands in this Redis server.",
			"LIST", "    Return a list of all commands in this Redis server.",
			"INFO [<command-name> ...]", "    Return details about multiple Redis commands.",
			"DOCS [<command-name> ...]", "    Return documentation details about multiple Redis commands.",
			"GETKEYS <full-command>", "    Return the keys from a full Redis command.",
			"HELP", "    Print this help.",
		}
		c.help(help)
	default:
		c.errReply(errUnknownSub("command", sub))
	}
}
