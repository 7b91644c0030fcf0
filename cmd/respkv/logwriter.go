package main

import (
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// stampWriter starts every line written through it with the process id and
// the time, as Redis does ("1234:M 06 Dec 2026 05:20:01.123 "), so that a log
// read later tells when each event happened. Lines may come from the loop and
// from goroutines (the AOF writer); a mutex keeps each Write whole.
type stampWriter struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	prefix []byte // "pid:M "
	midway bool   // the last write ended inside a line
	buf    []byte
}

func newStampWriter(w io.Writer) *stampWriter {
	return &stampWriter{w: w, now: time.Now, prefix: []byte(strconv.Itoa(os.Getpid()) + ":M ")}
}

// Write stamps each line that starts in p and returns len(p) when the
// underlying writer took everything, else 0 and its error.
func (s *stampWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	b := s.buf[:0]
	for len(p) > 0 {
		if !s.midway {
			b = append(b, s.prefix...)
			b = s.now().AppendFormat(b, "02 Jan 2006 15:04:05.000 ")
			s.midway = true
		}
		i := 0
		for i < len(p) && p[i] != '\n' {
			i++
		}
		if i < len(p) {
			i++ // the newline ends the line
			s.midway = false
		}
		b = append(b, p[:i]...)
		p = p[i:]
	}
	s.buf = b[:0]
	if _, err := s.w.Write(b); err != nil {
		return 0, err
	}
	return n, nil
}
