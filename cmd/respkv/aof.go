package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// fsync policies.
const (
	fsyncEverysec = iota
	fsyncAlways
	fsyncNo
)

func parseFsync(s string) (int, error) {
	switch s {
	case "everysec", "":
		return fsyncEverysec, nil
	case "always":
		return fsyncAlways, nil
	case "no":
		return fsyncNo, nil
	}
	return 0, fmt.Errorf("invalid -appendfsync %q (want always, everysec or no)", s)
}

// aofAck is the writer's report to the loop: every batch up to seq is
// written (and fsynced, with appendfsync always), or err happened.
type aofAck struct {
	seq    uint64
	err    error
	status bool // everysec/no: err is the writer's new state (nil: recovered)
}

// aof is the append-only file. The loop appends commands to buf; flush hands
// buf to a writer goroutine (the loop never waits for the disk); the writer
// writes, fsyncs per policy and, with appendfsync always, reports each
// fsynced batch back to the loop through a calloop channel, so that replies
// to writes are sent only once the writes are durable.
type aof struct {
	policy int
	f      *os.File
	buf    []byte // loop side: commands not yet handed over
	curDB  int    // database of the last appended command, -1 = unknown
	seq    uint64 // last batch handed over
	ack    *calloop.Sender[aofAck]

	mu      sync.Mutex
	pending []byte
	pendSeq uint64
	closing bool
	kick    chan struct{}
	done    chan struct{}
	werr    error
	warn    io.Writer
}

// openAOF opens (creating) path for appending and starts the writer.
func openAOF(path string, policy int, ack *calloop.Sender[aofAck], warn io.Writer) (*aof, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	a := &aof{policy: policy, f: f, curDB: -1, ack: ack, kick: make(chan struct{}, 1), done: make(chan struct{}), warn: warn}
	go a.writer()
	return a, nil
}

// append adds one command, preceded by a SELECT when dbi differs from the
// database of the previous one (dbi < 0: no database, MULTI/EXEC).
func (a *aof) append(dbi int, args ...[]byte) {
	if dbi >= 0 && dbi != a.curDB {
		a.buf = resp.AppendCommand(a.buf, []byte("SELECT"), strconv.AppendInt(nil, int64(dbi), 10))
		a.curDB = dbi
	}
	a.buf = resp.AppendCommand(a.buf, args...)
}

// flush hands the appended commands to the writer and returns their batch
// number (0 if there was nothing to hand over).
func (a *aof) flush() uint64 {
	if len(a.buf) == 0 {
		return 0
	}
	a.seq++
	a.mu.Lock()
	if len(a.pending) == 0 {
		a.pending, a.buf = a.buf, a.pending[:0]
	} else {
		a.pending = append(a.pending, a.buf...)
		a.buf = a.buf[:0]
	}
	a.pendSeq = a.seq
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
	return a.seq
}

// close flushes, waits for the writer to write and fsync everything, and
// closes the file.
func (a *aof) close() error {
	a.flush()
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
	<-a.done
	if a.ack != nil {
		a.ack.Close()
	}
	return a.werr
}

func (a *aof) writer() {
	defer close(a.done)
	// A ticker drives the everysec fsync and the retries after an error.
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var spare, retry []byte
	var size int64
	if st, err := a.f.Stat(); err == nil {
		size = st.Size()
	}
	unsynced, failing := false, false
	lastSync := time.Now()
	for {
		select {
		case <-a.kick:
		case <-t.C:
		}
		a.mu.Lock()
		data, seq, closing := a.pending, a.pendSeq, a.closing
		a.pending = spare[:0]
		a.mu.Unlock()
		if retry != nil {
			// Writes that failed before go first, in order.
			data = append(retry, data...)
			retry = nil
		}
		var err error
		if len(data) > 0 {
			var n int
			n, err = a.f.Write(data)
			if err != nil {
				// Cut a partial record off, so that a later successful
				// write does not follow garbage, and keep the data to
				// write again (as Redis does).
				if n > 0 {
					if terr := a.f.Truncate(size); terr != nil {
						data = data[n:] // cannot undo: keep what was not written
						size += int64(n)
					}
				}
				retry = data
				data = nil
			} else {
				size += int64(n)
				unsynced = true
			}
		}
		spare = data
		if err == nil && unsynced && (closing || a.policy == fsyncAlways ||
			(a.policy == fsyncEverysec && time.Since(lastSync) >= time.Second)) {
			err = a.f.Sync()
			if err == nil {
				unsynced = false
				lastSync = time.Now()
			}
		}
		if err != nil {
			if !failing {
				fmt.Fprintf(a.warn, "respkv: writing the AOF: %v\n", err)
			}
			if a.werr == nil || !failing {
				a.werr = err
			}
		}
		switch {
		case a.policy == fsyncAlways:
			if a.ack != nil && (seq > 0 && (len(data) > 0 || err != nil)) {
				a.ack.Send(aofAck{seq: seq, err: err})
			}
		case err != nil && !failing:
			a.ack.Send(aofAck{status: true, err: err})
		case err == nil && failing && retry == nil:
			fmt.Fprintf(a.warn, "respkv: AOF write error is solved, the AOF is written again\n")
			a.werr = nil
			a.ack.Send(aofAck{status: true})
		}
		failing = err != nil || retry != nil
		if closing && (retry == nil || err != nil) {
			if cerr := a.f.Close(); cerr != nil && a.werr == nil {
				a.werr = cerr
			}
			return
		}
	}
}

// loadAOF replays the append-only file at path into s. A last command cut
// short (a crash in the middle of a write), or a transaction without its
// EXEC, is cut off the file with a warning; garbage in the middle is an error.
func (s *server) loadAOF(path string, warn io.Writer) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.loading = true
	defer func() { s.loading = false }()
	s.now = time.Now().UnixMilli()
	c := s.newClient(nil)
	c.parser = resp.NewParser(1 << 62)
	off, good := 0, 0
	count := 0
	for off < len(data) {
		args, n, perr := c.parser.Parse(data[off:])
		if perr != nil {
			return fmt.Errorf("bad file format reading the append only file %s at offset %d: %v", path, off, perr)
		}
		if n == 0 {
			break
		}
		off += n
		if len(args) > 0 {
			s.call(c, args)
			count++
			c.out = c.out[:0]
		}
		if !c.multi {
			good = off
		}
	}
	if good < len(data) {
		fmt.Fprintf(warn, "!!! Warning: short read while loading the AOF file %s !!!\n", path)
		fmt.Fprintf(warn, "!!! Truncating the AOF at offset %d (of %d bytes) !!!\n", good, len(data))
		if err := os.Truncate(path, int64(good)); err != nil {
			return fmt.Errorf("truncating the torn tail of %s: %w", path, err)
		}
		fmt.Fprintf(warn, "AOF loaded anyway because aof-load-truncated is enabled\n")
	}
	// Expired keys stay until touched or sampled, as after Redis's load.
	_ = count
	return nil
}
