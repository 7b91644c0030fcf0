package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// Output held for a client whose replies wait for an fsync (appendfsync
// always) before its reading is paused.
const maxHeld = 4 << 20

// highWater is the connection's output high-water mark: above it the
// connection stops reading, and feed stops running commands.
const highWater = 4 << 20

// instance is a running server: its loop, state and listener.
type instance struct {
	l    *calloop.Loop[server]
	s    *server
	ln   *stream.Listener[server]
	warn io.Writer
}

// newInstance loads the append-only file (if any), listens and registers
// the timers and signals. Run it with run.
func newInstance(cfg Config, warn io.Writer) (*instance, error) {
	if cfg.MaxReq <= 0 {
		cfg.MaxReq = 512 << 20
	}
	policy, err := parseFsync(cfg.AppendFsync)
	if err != nil {
		return nil, err
	}
	s := newServer(cfg)
	l, err := calloop.New[server](s.loopOptions()...)
	if err != nil {
		return nil, err
	}
	s.loop = l
	in := &instance{l: l, s: s, warn: warn}
	fail := func(err error) (*instance, error) {
		in.cleanup()
		return nil, err
	}
	if err := s.setMaxMemory(cfg.MaxMemory, cfg.MaxMemoryPolicy); err != nil {
		return fail(fmt.Errorf("maxmemory: %w", err))
	}
	if cfg.AOF != "" {
		if err := s.loadAOF(cfg.AOF, warn); err != nil {
			return fail(err)
		}
		ack, err := calloop.NewChannel(l, func(s *server, m aofAck, ok bool) {
			switch {
			case !ok:
			case m.rw:
				s.rewriteDone(m)
			case m.status:
				s.aofErr = m.err
			default:
				s.onSynced(m)
			}
		})
		if err != nil {
			return fail(err)
		}
		s.aof, err = openAOF(cfg.AOF, policy, ack, warn)
		if err != nil {
			return fail(err)
		}
	}
	mi := int(maxInput(cfg.MaxReq))
	in.ln, err = stream.Listen(l, "tcp", cfg.Addr, stream.Config{
		MaxInput:  mi,
		MaxOutput: int(maxOutput(cfg.MaxReq)),
		HighWater: highWater,
		LowWater:  highWater / 4,
		Backlog:   1024,
	}, stream.Handler[server]{
		OnOpen:  (*server).onOpen,
		OnData:  (*server).onData,
		OnClose: (*server).onClose,
	})
	if err != nil {
		return fail(err)
	}
	if _, err := l.AddTimer(100*time.Millisecond, func(s *server, _ time.Time) calloop.TimerAction {
		start := time.Now()
		s.activeExpire()
		s.latencySample("expire-cycle", time.Since(start))
		s.aofCron()
		return calloop.Again(100 * time.Millisecond)
	}); err != nil {
		return fail(err)
	}
	if err := startEventloopSampler(l); err != nil {
		return fail(err)
	}
	if _, err := calloop.Notify(l, func(s *server, sig os.Signal) {
		fmt.Fprintf(warn, "respkv: %v received, shutting down\n", sig)
		in.beginShutdown()
	}, os.Interrupt, syscall.SIGTERM); err != nil {
		return fail(err)
	}
	return in, nil
}

// Addr is the listening address.
func (in *instance) Addr() net.Addr { return in.ln.Addr() }

// run serves until a signal's graceful shutdown, ctx is done or a failure.
func (in *instance) run(ctx context.Context) error {
	err := in.l.Run(ctx, in.s)
	if cerr := in.cleanup(); err == nil {
		err = cerr
	}
	return err
}

// cleanup closes what is left: listener, AOF (flushed and fsynced), loop.
func (in *instance) cleanup() error {
	var err error
	if in.ln != nil {
		in.ln.Close()
	}
	if in.s.aof != nil {
		err = in.s.aof.close()
		in.s.aof = nil
	}
	in.l.Close()
	return err
}

// beginShutdown stops accepting, makes the AOF durable, sends every reply
// and closes every connection gracefully; the loop stops when the last one
// is gone (or after two seconds).
func (in *instance) beginShutdown() {
	s := in.s
	if s.shutdown {
		return
	}
	s.shutdown = true
	in.ln.Close()
	if s.aof != nil {
		if err := s.aof.close(); err != nil {
			fmt.Fprintf(in.warn, "respkv: AOF: %v\n", err)
		}
		s.aof = nil
		// Everything is on disk: release every held reply.
		s.onSynced(aofAck{seq: ^uint64(0)})
	}
	for _, c := range s.clients {
		if c.conn != nil {
			c.conn.Close()
		}
	}
	if len(s.clients) == 0 {
		in.l.Stop()
		return
	}
	in.l.AddTimer(2*time.Second, func(s *server, _ time.Time) calloop.TimerAction {
		in.l.Stop()
		return calloop.Drop()
	})
}

// clientKey attaches a connection's client state to it.
var clientKey = stream.NewConnKey[*client]("respkv client")

func (s *server) onOpen(conn *stream.Conn[server]) {
	if s.denied(conn.RemoteAddr()) {
		conn.Write([]byte(errProtectedMode))
		conn.Close()
		s.stats.rejectedConns++
		return
	}
	c := s.newClient(conn)
	clientKey.Set(conn, c)
	s.clients[c.id] = c
	s.stats.connections++
	if s.shutdown {
		conn.Close()
	}
}

func (s *server) onData(conn *stream.Conn[server], in []byte) int {
	c := clientKey.Get(conn)
	if c == nil || c.closing {
		return len(in)
	}
	n := s.feed(c, in)
	if n < len(in) && !c.stopped && !c.closing && c.block == nil {
		s.reserveInput(c, in[n:])
	}
	s.flushClient(c)
	if c.stopped && c.conn != nil {
		// feed stopped on output volume with requests left: have them
		// offered again once the replies have drained, without waiting
		// for the client to send more.
		conn.OfferAgain()
	}
	return n
}

func (s *server) onClose(conn *stream.Conn[server], err error) {
	c := clientKey.Get(conn)
	if c == nil {
		return
	}
	delete(s.clients, c.id)
	s.unwatchAll(c)
	s.unblock(c)
	c.held = nil
	c.heldBytes = 0
	s.pubsubDrop(c)
	c.closing = true
	c.conn = nil
	if s.shutdown && len(s.clients) == 0 {
		s.loop.Stop()
	}
}

// flushClient sends c's replies, or holds them until the AOF writer has
// fsynced the writes they acknowledge (appendfsync always).
func (s *server) flushClient(c *client) {
	if c.conn == nil {
		c.out = c.out[:0]
		c.dropRefs()
		return
	}
	if s.aof != nil {
		wrote := len(s.aof.buf) > 0
		seq := s.aof.flush()
		if s.aof.policy == fsyncAlways && (wrote || len(c.held) > 0) {
			if wrote {
				c.heldSeq = seq
			}
			if c.outLen() > 0 {
				data := c.flatOut()
				if len(c.held) == 0 {
					s.waiting = append(s.waiting, c)
				}
				c.held = append(c.held, heldReply{seq: c.heldSeq, data: data})
				c.heldBytes += len(data)
				c.out = c.out[:0]
				if (c.heldBytes > maxHeld || c.stopped) && !c.paused {
					c.paused = true
					c.conn.PauseReading()
				}
			}
			return
		}
	}
	if c.outLen() > 0 {
		s.stats.netOut += uint64(c.outLen())
		c.writeOut()
		if cap(c.out) > 1<<20 {
			c.out = nil
		} else {
			c.out = c.out[:0]
		}
	}
	if c.closing {
		s.pubsubDrop(c) // Redis frees the client once the reply is written
		c.conn.Close()
	}
}

// onSynced releases the replies held for batches up to m.seq.
func (s *server) onSynced(m aofAck) {
	if m.err != nil {
		s.loop.Fail(fmt.Errorf("can't recover from AOF write error when the AOF fsync policy is 'always': %w", m.err))
		return
	}
	keep := s.waiting[:0]
	for _, c := range s.waiting {
		if c.conn == nil {
			continue
		}
		i := 0
		for ; i < len(c.held) && c.held[i].seq <= m.seq; i++ {
			s.stats.netOut += uint64(len(c.held[i].data))
			c.conn.Write(c.held[i].data)
			c.heldBytes -= len(c.held[i].data)
		}
		clear(c.held[:i])
		c.held = c.held[i:]
		if len(c.held) > 0 {
			keep = append(keep, c)
			continue
		}
		c.held = nil
		if c.paused {
			c.paused = false
			c.conn.ResumeReading()
		}
		if c.closing {
			c.conn.Close()
		}
	}
	clear(s.waiting[len(keep):])
	s.waiting = keep
}

// activeExpire is Redis's active expiry cycle: in each database, sample 20
// keys with an expiry, delete the expired ones, and repeat while more than
// a quarter of a sample had expired, for at most 25ms in all.
func (s *server) activeExpire() {
	start := time.Now()
	s.now = start.UnixMilli()
	s.stats.activeCycles++
	for dbi, d := range s.dbs {
		for iter := 1; len(d.vol) > 0; iter++ {
			n := min(20, len(d.vol))
			expired := 0
			for k := 0; k < n && len(d.vol) > 0; k++ {
				i := int(d.vol[rand.IntN(len(d.vol))])
				if s.expired(&d.ents[i]) {
					s.expireKey(dbi, i)
					expired++
				}
			}
			if expired*4 <= n {
				break
			}
			if iter%16 == 0 && time.Since(start) > 25*time.Millisecond {
				s.flushAOF()
				return
			}
		}
	}
	s.flushAOF()
}

func (s *server) flushAOF() {
	if s.aof != nil {
		s.aof.flush()
	}
}
