package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// AOF rewrite, without stopping the loop and without fork:
//
//  1. On the loop: the AOF buffer is handed to the writer and a mark is put
//     at its end; then a snapshot of the keyspace is taken: for each live
//     key its name, value slice and expiry (no value is copied). Every
//     entry is flagged shared, so that a command changing a value in place
//     copies it first (db.own): the snapshot's slices never change.
//  2. A rewriter goroutine writes the snapshot as SET commands to a
//     temporary file next to the AOF and fsyncs it.
//  3. Meanwhile the writer goroutine keeps appending every batch to the old
//     AOF, as always, and keeps a copy of the batches after the mark (the
//     tail).
//  4. When the rewriter is done, the writer (between two batches) appends
//     the tail to the temporary file, fsyncs it, renames it over the AOF,
//     fsyncs the directory and goes on writing to the new file.
//
// Up to the rename the old AOF is complete (it gets every batch, fsynced per
// policy); the rename replaces it with a file that holds the snapshot plus
// every batch after it, already fsynced. A kill at any point therefore
// leaves a complete AOF under the AOF's name, old or new.

// rewriteTmp is the temporary file of a rewrite of the AOF at path.
func rewriteTmp(path string) string {
	return filepath.Join(filepath.Dir(path), "temp-rewriteaof-"+filepath.Base(path))
}

// rewriteCrashAt names a step of the rewrite at which the process kills
// itself with SIGKILL (RESPKV_TEST_REWRITE_CRASH): the crash tests use it
// to check that a kill at every step loses no acknowledged write.
var rewriteCrashAt = os.Getenv("RESPKV_TEST_REWRITE_CRASH")

// rewriteTailMin (RESPKV_TEST_REWRITE_TAIL, bytes) makes the rewriter wait
// (up to 10 s) before handing its file over until the writer has kept that
// much of the tail, so that tests get acknowledged writes into the tail.
var rewriteTailMin, _ = strconv.ParseInt(os.Getenv("RESPKV_TEST_REWRITE_TAIL"), 10, 64)

func crashPoint(step string) {
	if rewriteCrashAt == step {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Kill() // SIGKILL on Unix
		}
		select {} // the signal is on its way
	}
}

// rewriteState is the loop's view of rewrites.
type rewriteState struct {
	inProgress bool
	scheduled  bool // BGREWRITEAOF inside a transaction: start after it
	started    time.Time
	lastSecs   int64 // duration of the last rewrite, -1 = none yet
	lastOK     bool
	fails      int       // consecutive failures
	retryAt    time.Time // no automatic rewrite before
	baseSize   int64     // AOF size after the last load or rewrite
}

// snapEntry is one key of a snapshot. val is shared with the keyspace and
// never changed while the snapshot lives (see db.own).
type snapEntry struct {
	key string
	val []byte
	obj object // the value of any type but string; nil for a string
	exp int64
}

// rwJob is a rewrite's temporary file, handed from the rewriter to the
// writer; err != nil: the rewrite failed (or was aborted).
type rwJob struct {
	tmp  string
	f    *os.File
	base int64 // bytes of snapshot in f
	err  error
}

var errRewriteAborted = errors.New("rewrite aborted: the server is shutting down")

// own makes the value of entry i safe to change in place: if a snapshot or
// a pending reply may still read it, it is replaced by a private copy.
func (d *db) own(i int) {
	e := &d.ents[i]
	if !e.shared || e.typ != typeString {
		return
	}
	v := make([]byte, len(e.val), cap(e.val))
	copy(v, e.val)
	e.val = v
	e.shared = false
}

// snapshot lists every live key of every database, sharing the values
// with the keyspace (which copies a value before changing it in place).
func (s *server) snapshot() *[numDBs][]snapEntry {
	var snap [numDBs][]snapEntry
	for dbi, d := range s.dbs {
		if len(d.ents) == 0 {
			continue
		}
		es := make([]snapEntry, 0, len(d.ents))
		for i := range d.ents {
			e := &d.ents[i]
			if e.exp != 0 && e.exp <= s.now {
				continue
			}
			e.shared = true
			var obj object
			if e.typ != typeString {
				obj = e.object()
			}
			es = append(es, snapEntry{e.key, e.val, obj, e.exp})
		}
		snap[dbi] = es
	}
	return &snap
}

// startRewrite begins a background rewrite; false if none could start.
func (s *server) startRewrite() bool {
	a := s.aof
	if a == nil || s.rw.inProgress {
		return false
	}
	s.rw.scheduled = false
	snap := s.snapshot()
	tmp := rewriteTmp(a.path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(a.warn, "respkv: can't open the temporary file for the AOF rewrite %s: %v\n", tmp, err)
		s.rewriteFailed()
		return false
	}
	a.markTail()
	s.rw.inProgress = true
	s.rw.started = time.Now()
	fmt.Fprintf(a.warn, "respkv: Background append only file rewriting started\n")
	crashPoint("snapshot")
	a.rwDone = make(chan struct{})
	go a.rewriter(&rwJob{tmp: tmp, f: f}, snap)
	return true
}

// markTail hands the buffered commands to the writer and marks the point
// after which the writer keeps the batches for the rewritten file.
func (a *aof) markTail() {
	a.flush()
	a.mu.Lock()
	a.rwMark = len(a.pending)
	a.mu.Unlock()
	// The rewritten file ends with the snapshot's last SELECT: the next
	// command must name its database.
	a.curDB = -1
}

// rewriter writes the snapshot to job.f and hands the job to the writer.
func (a *aof) rewriter(job *rwJob, snap *[numDBs][]snapEntry) {
	defer close(a.rwDone)
	job.base, job.err = writeSnapshot(job.f, snap, a.rwQuit)
	if job.err == nil {
		crashPoint("base-written")
		job.err = job.f.Sync()
		crashPoint("base-synced")
		if rewriteTailMin > 0 {
			t := time.NewTicker(5 * time.Millisecond)
			for deadline := time.Now().Add(10 * time.Second); a.tailBytes.Load() < rewriteTailMin && time.Now().Before(deadline); {
				select {
				case <-t.C:
				case <-a.rwQuit:
				}
			}
			t.Stop()
		}
	}
	a.mu.Lock()
	a.rwJob = job
	a.mu.Unlock()
	a.wake()
}

// writeSnapshot writes the snapshot as SELECT and SET commands (SET ... PXAT
// for keys with an expiry) and returns the number of bytes written.
func writeSnapshot(f *os.File, snap *[numDBs][]snapEntry, quit <-chan struct{}) (int64, error) {
	w := bufio.NewWriterSize(f, 256<<10)
	var n int64
	var hdr []byte
	half := 0
	for _, es := range snap {
		half += len(es)
	}
	half /= 2
	done := 0
	for dbi, es := range snap {
		if len(es) == 0 {
			continue
		}
		hdr = resp.AppendCommand(hdr[:0], []byte("SELECT"), strconv.AppendInt(nil, int64(dbi), 10))
		w.Write(hdr)
		n += int64(len(hdr))
		for i := range es {
			e := &es[i]
			if i%1024 == 0 {
				select {
				case <-quit:
					return n, errRewriteAborted
				default:
				}
			}
			if e.obj != nil {
				m, err := writeObject(w, e, &hdr)
				n += m
				if err != nil {
					return n, err
				}
				if done++; done == half {
					if err := w.Flush(); err != nil {
						return n, err
					}
					crashPoint("base-half")
				}
				continue
			}
			// The header, then the value straight from the keyspace (a
			// large value bypasses the buffer), then the rest.
			argc := 3
			if e.exp != 0 {
				argc = 5
			}
			hdr = resp.AppendArray(hdr[:0], argc)
			hdr = append(hdr, "$3\r\nSET\r\n$"...)
			hdr = strconv.AppendInt(hdr, int64(len(e.key)), 10)
			hdr = append(hdr, "\r\n"...)
			hdr = append(hdr, e.key...)
			hdr = append(hdr, "\r\n$"...)
			hdr = strconv.AppendInt(hdr, int64(len(e.val)), 10)
			hdr = append(hdr, "\r\n"...)
			w.Write(hdr)
			w.Write(e.val)
			n += int64(len(hdr) + len(e.val))
			hdr = append(hdr[:0], "\r\n"...)
			if e.exp != 0 {
				hdr = append(hdr, "$4\r\nPXAT\r\n"...)
				hdr = resp.AppendBulk(hdr, strconv.AppendInt(nil, e.exp, 10))
			}
			if _, err := w.Write(hdr); err != nil {
				return n, err
			}
			n += int64(len(hdr))
			done++
			if done == half {
				if err := w.Flush(); err != nil {
					return n, err
				}
				crashPoint("base-half")
			}
		}
	}
	return n, w.Flush()
}

// writeObject writes the commands that rebuild an object (its rewrite
// method's), then PEXPIREAT for an expiry, and returns the bytes written.
func writeObject(w *bufio.Writer, e *snapEntry, hdr *[]byte) (int64, error) {
	var n int64
	emit := func(args ...[]byte) error {
		*hdr = resp.AppendCommand((*hdr)[:0], args...)
		n += int64(len(*hdr))
		_, err := w.Write(*hdr)
		return err
	}
	key := []byte(e.key)
	if err := e.obj.rewrite(key, emit); err != nil {
		return n, err
	}
	if e.exp != 0 {
		if err := emit([]byte("PEXPIREAT"), key, strconv.AppendInt(nil, e.exp, 10)); err != nil {
			return n, err
		}
	}
	return n, nil
}

// switchTo finishes a rewrite on the writer's goroutine: the tail goes to
// the new file, which is fsynced and renamed over the AOF. It returns the
// size of the new file, or an error (the old file stays in use).
func (a *aof) switchTo(job *rwJob, tail []byte) (int64, error) {
	if job.err != nil {
		return 0, job.err
	}
	if _, err := job.f.Write(tail); err != nil {
		return 0, err
	}
	crashPoint("tail-written")
	if err := job.f.Sync(); err != nil {
		return 0, err
	}
	crashPoint("tail-synced")
	if err := os.Rename(job.tmp, a.path); err != nil {
		return 0, err
	}
	crashPoint("renamed")
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		fmt.Fprintf(a.warn, "respkv: fsync of the AOF's directory after the rewrite: %v\n", err)
	}
	crashPoint("dir-synced")
	return job.base + int64(len(tail)), nil
}

// dropJob closes and removes the temporary file of a failed rewrite.
func dropJob(job *rwJob) {
	job.f.Close()
	os.Remove(job.tmp)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// rewriteDone is the writer's report of the end of a rewrite, on the loop.
func (s *server) rewriteDone(m aofAck) {
	s.rw.inProgress = false
	s.rw.lastSecs = int64(time.Since(s.rw.started).Seconds())
	warn := s.aofWarn()
	if m.err != nil {
		fmt.Fprintf(warn, "respkv: Background AOF rewrite terminated with error: %v\n", m.err)
		s.rewriteFailed()
		return
	}
	s.rw.lastOK = true
	s.rw.fails = 0
	s.rw.baseSize = m.size
	fmt.Fprintf(warn, "respkv: Background AOF rewrite finished successfully (%d bytes)\n", m.size)
}

func (s *server) rewriteFailed() {
	s.rw.lastOK = false
	s.rw.fails++
	// As Redis: retry at once up to three times, then back off.
	if s.rw.fails >= 3 {
		d := time.Minute << min(s.rw.fails-3, 6)
		s.rw.retryAt = time.Now().Add(min(d, time.Hour))
	}
}

func (s *server) aofWarn() interface {
	Write([]byte) (int, error)
} {
	if s.aof != nil {
		return s.aof.warn
	}
	return os.Stderr
}

// aofCron starts a scheduled rewrite, or an automatic one when the AOF has
// grown by auto-aof-rewrite-percentage since the last rewrite (or load) and
// is larger than auto-aof-rewrite-min-size. It runs on the loop's timer.
func (s *server) aofCron() {
	if s.aof == nil || s.loading || s.rw.inProgress || s.shutdown {
		return
	}
	if s.rw.scheduled {
		s.startRewrite()
		return
	}
	perc := s.cfg.AutoAOFRewritePercentage
	cur := s.aof.size.Load()
	if perc <= 0 || cur <= s.cfg.AutoAOFRewriteMinSize || time.Now().Before(s.rw.retryAt) {
		return
	}
	base := max(s.rw.baseSize, 1)
	if growth := cur/base*100 + (cur%base)*100/base - 100; growth >= perc {
		fmt.Fprintf(s.aof.warn, "respkv: Starting automatic rewriting of AOF on %d%% growth\n", growth)
		s.startRewrite()
	}
}

// cmdBgrewriteaof is BGREWRITEAOF.
func cmdBgrewriteaof(s *server, c *client, args [][]byte) {
	switch {
	case s.rw.inProgress:
		c.errReply("ERR Background append only file rewriting already in progress")
	case s.aof == nil:
		fmt.Fprintf(os.Stderr, "respkv: BGREWRITEAOF: the AOF is off (start with an AOF file)\n")
		c.errReply("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.")
	case s.execDepth > 0:
		// Inside EXEC: the mark must not split the transaction's records.
		s.rw.scheduled = true
		c.simple("Background append only file rewriting scheduled")
	case s.startRewrite():
		c.simple("Background append only file rewriting started")
	default:
		c.errReply("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.")
	}
}

// aofInfo is the rewrite part of INFO persistence.
func (s *server) aofInfo() []string {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	status := "ok"
	if s.rw.lastSecs >= 0 && !s.rw.lastOK && s.rw.fails > 0 {
		status = "err"
	}
	cur := int64(-1)
	if s.rw.inProgress {
		cur = int64(time.Since(s.rw.started).Seconds())
	}
	lines := []string{
		"aof_rewrite_in_progress:" + b(s.rw.inProgress),
		"aof_rewrite_scheduled:" + b(s.rw.scheduled),
		"aof_last_rewrite_time_sec:" + strconv.FormatInt(s.rw.lastSecs, 10),
		"aof_current_rewrite_time_sec:" + strconv.FormatInt(cur, 10),
		"aof_last_bgrewrite_status:" + status,
	}
	if s.aof != nil {
		lines = append(lines,
			"aof_current_size:"+strconv.FormatInt(s.aof.size.Load(), 10),
			"aof_base_size:"+strconv.FormatInt(s.rw.baseSize, 10))
	}
	return lines
}
