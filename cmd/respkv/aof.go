package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
	rw     bool // a rewrite ended: err is its failure, size the new file's
	size   int64
}

// aof is the append-only file. The loop appends commands to buf; flush hands
// buf to a writer goroutine (the loop never waits for the disk); the writer
// writes, fsyncs per policy and, with appendfsync always, reports each
// fsynced batch back to the loop through a calloop channel, so that replies
// to writes are sent only once the writes are durable.
type aof struct {
	policy int
	path   string
	f      *os.File
	size   atomic.Int64 // bytes in the file, as the writer last left it
	buf    []byte       // loop side: commands not yet handed over
	curDB  int          // database of the last appended command, -1 = unknown
	seq    uint64       // last batch handed over
	ack    *calloop.Sender[aofAck]

	// refs: large arguments of the commands in buf, written from where
	// they live (inputs taken over from a connection: see aofRef).
	refs []outRef
	gift []byte // the input buffer taken over for the running command

	mu       sync.Mutex
	pending  []byte
	pendRefs []outRef // refs of pending, positions in pending
	pendSeq  uint64
	closing  bool
	kick     chan struct{}
	done     chan struct{}
	werr     error
	warn     io.Writer

	// rewrite (see aof_rewrite.go)
	rwMark int           // under mu: pending[rwMark:] is after the snapshot; -1 none
	rwJob  *rwJob        // under mu: the rewriter's finished temporary file
	rwQuit chan struct{} // closed by close: a running rewriter stops
	rwDone chan struct{} // the running rewriter has exited (nil: none started)
	// tailBytes is the size of the tail kept so far (for a test hook)
	tailBytes atomic.Int64
}

// openAOF opens (creating) path for appending and starts the writer.
func openAOF(path string, policy int, ack *calloop.Sender[aofAck], warn io.Writer) (*aof, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	a := &aof{policy: policy, path: path, f: f, curDB: -1, ack: ack, kick: make(chan struct{}, 1), done: make(chan struct{}), warn: warn,
		rwMark: -1, rwQuit: make(chan struct{})}
	// A temporary file left by a rewrite that a crash interrupted.
	os.Remove(rewriteTmp(path))
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
	a.buf = resp.AppendArray(a.buf, len(args))
	for _, arg := range args {
		if len(arg) >= keepMin && inBuffer(a.gift, arg) {
			// An argument in a buffer taken over from the connection:
			// nobody writes to it any more (a key keeping part of it is
			// flagged shared), so the writer reads it where it is.
			a.buf = append(a.buf, '$')
			a.buf = strconv.AppendInt(a.buf, int64(len(arg)), 10)
			a.buf = append(a.buf, "\r\n"...)
			a.refs = append(a.refs, outRef{len(a.buf), arg})
			a.buf = append(a.buf, "\r\n"...)
			continue
		}
		a.buf = resp.AppendBulk(a.buf, arg)
	}
}

// flush hands the appended commands to the writer and returns their batch
// number (0 if there was nothing to hand over).
func (a *aof) flush() uint64 {
	if len(a.buf) == 0 {
		return 0
	}
	a.seq++
	a.gift = nil
	a.mu.Lock()
	for _, r := range a.refs {
		a.pendRefs = append(a.pendRefs, outRef{r.at + len(a.pending), r.val})
	}
	clear(a.refs)
	a.refs = a.refs[:0]
	if len(a.pending) == 0 {
		a.pending, a.buf = a.buf, a.pending[:0]
	} else {
		a.pending = append(a.pending, a.buf...)
		a.buf = a.buf[:0]
	}
	a.pendSeq = a.seq
	a.mu.Unlock()
	a.wake()
	return a.seq
}

// inBuffer reports whether p lies within buf.
func inBuffer(buf, p []byte) bool {
	if len(buf) == 0 || len(p) == 0 {
		return false
	}
	b := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	q := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return q >= b && q+uintptr(len(p)) <= b+uintptr(len(buf))
}

// appendFlat appends data[from:] to dst with the values of refs (positions
// in data) inlined.
func appendFlat(dst, data []byte, refs []outRef, from int) []byte {
	pos := from
	for _, r := range refs {
		if r.at < from {
			continue
		}
		dst = append(dst, data[pos:r.at]...)
		dst = append(dst, r.val...)
		pos = r.at
	}
	return append(dst, data[pos:]...)
}

// writeRefs writes data with the values of refs inlined and returns the
// number of bytes written.
func writeRefs(f *os.File, data []byte, refs []outRef) (int, error) {
	var n int
	pos := 0
	for _, r := range refs {
		for _, p := range [][]byte{data[pos:r.at], r.val} {
			k, err := f.Write(p)
			n += k
			if err != nil {
				return n, err
			}
		}
		pos = r.at
	}
	k, err := f.Write(data[pos:])
	return n + k, err
}

// wake makes the writer look at its inputs.
func (a *aof) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// close flushes, waits for the writer to write and fsync everything, and
// closes the file.
func (a *aof) close() error {
	a.flush()
	// A running rewrite is abandoned: the old file is complete.
	close(a.rwQuit)
	if a.rwDone != nil {
		<-a.rwDone
	}
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
	a.size.Store(size)
	// A rewrite in progress: the batches after its snapshot, and its
	// finished temporary file waiting for the switch.
	var tail []byte
	tailing := false
	var job *rwJob
	unsynced, failing := false, false
	lastSync := time.Now()
	for {
		select {
		case <-a.kick:
		case <-t.C:
		}
		a.mu.Lock()
		data, refs, seq, closing := a.pending, a.pendRefs, a.pendSeq, a.closing
		mark, newJob := a.rwMark, a.rwJob
		a.rwMark, a.rwJob = -1, nil
		a.pending, a.pendRefs = spare[:0], nil
		a.mu.Unlock()
		if mark >= 0 {
			tailing = true
			tail = appendFlat(tail[:0], data, refs, mark)
		} else if tailing {
			tail = appendFlat(tail, data, refs, 0)
		}
		a.tailBytes.Store(int64(len(tail)))
		if newJob != nil {
			job = newJob
		}
		if retry != nil {
			// Writes that failed before go first, in order.
			data = appendFlat(retry, data, refs, 0)
			refs, retry = nil, nil
		}
		var err error
		if len(data) > 0 {
			var n int
			if len(refs) == 0 {
				n, err = a.f.Write(data)
			} else {
				n, err = writeRefs(a.f, data, refs)
				if err != nil {
					data = appendFlat(nil, data, refs, 0) // the rare path: copies
				}
			}
			clear(refs)
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
				a.size.Store(size)
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
		if job != nil && (closing || job.err != nil || !failing) {
			// The rewrite ends: switch to the new file, between two
			// batches, or give it up. While the old file is failing the
			// switch waits (the failed batches are in the tail already).
			var nsize int64
			rerr := errRewriteAborted
			if !closing {
				nsize, rerr = a.switchTo(job, tail)
			}
			if rerr == nil {
				a.f.Close()
				a.f, size, unsynced = job.f, nsize, false
				a.size.Store(size)
				lastSync = time.Now()
			} else {
				dropJob(job)
			}
			if a.ack != nil && !closing {
				a.ack.Send(aofAck{rw: true, err: rerr, size: nsize})
			}
			job, tail, tailing = nil, nil, false
		}
		if closing && (retry == nil || err != nil) {
			if cerr := a.f.Close(); cerr != nil && a.werr == nil {
				a.werr = cerr
			}
			return
		}
	}
}
