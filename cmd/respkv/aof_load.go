package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// errAOFTruncated: the file ends inside a record (or a header line).
var errAOFTruncated = errors.New("unexpected end of file")

// loadError is a refusal of the AOF, with Redis's message (capitalized as
// Redis logs it).
type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }

// aofFormatError is a record that is not what respkv writes: the load stops.
type aofFormatError struct {
	off    int64
	detail string
}

func (e *aofFormatError) Error() string { return fmt.Sprintf("at offset %d: %s", e.off, e.detail) }

// aofReader reads the append-only file record by record, strictly: a record
// is "*<n>\r\n" (n >= 1) followed by n "$<len>\r\n<len bytes>\r\n"; a line
// starting with '#' is an annotation (Redis 7 writes timestamps so) and is
// skipped. Anything else is a format error. A record cut short by the end
// of the file is errAOFTruncated, never a format error, as with Redis's
// loader. Nothing is allocated beyond what the file holds: lengths and
// counts are checked against the bytes left before memory is reserved.
type aofReader struct {
	r    *bufio.Reader
	off  int64 // offset of the next unread byte
	size int64 // file size
	buf  []byte
	args [][]byte
	gift []byte // the arena of the record's large argument, if any
}

func newAOFReader(r io.Reader, size int64) *aofReader {
	return &aofReader{r: bufio.NewReaderSize(r, 64<<10), size: size}
}

// header reads a "<kind><digits>\r\n" line and returns the number.
func (ar *aofReader) header(kind byte) (int64, error) {
	start := ar.off
	line, err := ar.r.ReadSlice('\n')
	ar.off += int64(len(line))
	if err != nil {
		if errors.Is(err, io.EOF) {
			// A header cut by the end of the file: a torn record if what
			// there is of it is well-formed, else garbage (a text file
			// without a newline is not "truncated").
			if len(line) == 0 {
				return 0, errAOFTruncated
			}
			if line[0] != kind {
				return 0, &aofFormatError{start, fmt.Sprintf("expected '%c', got %q", kind, line[0])}
			}
			rest := bytes.TrimSuffix(line[1:], []byte("\r"))
			if len(rest) > 18 || bytes.ContainsFunc(rest, func(r rune) bool { return r < '0' || r > '9' }) {
				return 0, &aofFormatError{start, fmt.Sprintf("bad length %q", rest)}
			}
			return 0, errAOFTruncated
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, &aofFormatError{start, fmt.Sprintf("line of more than %d bytes where '%c' was expected", len(line), kind)}
		}
		return 0, err
	}
	if line[0] != kind {
		return 0, &aofFormatError{start, fmt.Sprintf("expected '%c', got %q", kind, line[0])}
	}
	digits := line[1 : len(line)-1]
	if len(digits) == 0 || digits[len(digits)-1] != '\r' {
		return 0, &aofFormatError{start, "header line without \\r\\n"}
	}
	digits = digits[:len(digits)-1]
	if len(digits) == 0 || len(digits) > 18 {
		return 0, &aofFormatError{start, fmt.Sprintf("bad length %q", digits)}
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, &aofFormatError{start, fmt.Sprintf("bad length %q", digits)}
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// next reads one record. io.EOF: the file ended cleanly between records.
// The arguments are valid until the next call.
func (ar *aofReader) next() ([][]byte, error) {
	for {
		c, err := ar.r.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		if c[0] != '#' {
			break
		}
		// An annotation line: skip it whole.
		for {
			line, err := ar.r.ReadSlice('\n')
			ar.off += int64(len(line))
			if err == nil {
				break
			}
			if errors.Is(err, io.EOF) {
				return nil, errAOFTruncated
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return nil, err
			}
		}
	}
	start := ar.off
	argc, err := ar.header('*')
	if err != nil {
		return nil, err
	}
	if argc < 1 {
		return nil, &aofFormatError{start, fmt.Sprintf("record of %d arguments", argc)}
	}
	// Every argument takes at least 6 bytes ("$0\r\n\r\n").
	if argc > (ar.size-ar.off)/6+1 {
		return nil, errAOFTruncated
	}
	ar.args = ar.args[:0]
	ar.buf = ar.buf[:0]
	ar.gift = nil
	for range argc {
		n, err := ar.header('$')
		if err != nil {
			return nil, err
		}
		if n > ar.size-ar.off-2 {
			return nil, errAOFTruncated
		}
		if cap(ar.buf)-len(ar.buf) < int(n) {
			// A new arena: the earlier arguments stay where they are.
			ar.buf = make([]byte, 0, max(int(n), 4096))
			if n >= keepMin {
				// An arena of one large argument is never reused: the
				// command may keep the value as it is (server.gift).
				ar.gift = ar.buf[:n]
			}
		}
		at := len(ar.buf)
		ar.buf = ar.buf[:at+int(n)]
		if _, err := io.ReadFull(ar.r, ar.buf[at:]); err != nil {
			return nil, ar.readErr(err)
		}
		ar.off += n
		var crlf [2]byte
		if _, err := io.ReadFull(ar.r, crlf[:]); err != nil {
			return nil, ar.readErr(err)
		}
		if crlf != [2]byte{'\r', '\n'} {
			return nil, &aofFormatError{ar.off, "argument not followed by \\r\\n"}
		}
		ar.off += 2
		ar.args = append(ar.args, ar.buf[at:at+int(n):at+int(n)])
	}
	if cap(ar.buf) > 1<<20 {
		// Do not keep a big value's arena alive after its command.
		defer func() { ar.buf = nil }()
	}
	return ar.args, nil
}

func (ar *aofReader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errAOFTruncated
	}
	return err
}

// loadAOF replays the append-only file at path into s, strictly (see
// aofReader): a record that is not well-formed RESP, or names an unknown
// command, or has the wrong number of arguments, stops the start with
// Redis's "Bad file format" or "Unknown command" message; nothing of the
// file is run as an inline command. A last record cut short (a crash in the
// middle of a write), or a transaction without its EXEC, is cut off the
// file with a warning, as Redis does with aof-load-truncated yes. What was
// loaded is logged to warn.
func (s *server) loadAOF(path string, warn io.Writer) error {
	s.rw.lastSecs = -1
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening the append only file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	start := time.Now()
	s.loading = true
	defer func() { s.loading = false }()
	s.now = start.UnixMilli()
	c := s.newClient(nil)
	ar := newAOFReader(f, st.Size())
	var good, beforeMulti int64
	var count, errs int
	var firstErr string
	badFormat := func(detail string) error {
		return &loadError{msg: fmt.Sprintf("Bad file format reading the append only file %s: make a backup of your AOF file, then use ./redis-check-aof --fix <filename> (%s)", path, detail)}
	}
	for {
		recStart := ar.off
		args, err := ar.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errAOFTruncated) {
			fmt.Fprintf(warn, "!!! Warning: short read while loading the AOF file %s!!!\n", path)
			break
		}
		var fe *aofFormatError
		if errors.As(err, &fe) {
			return badFormat(fe.Error())
		}
		if err != nil {
			return &loadError{msg: fmt.Sprintf("Unrecoverable error reading the append only file %s: %v", path, err), err: err}
		}
		cmd := lookup(args[0])
		if cmd == nil {
			name := cstr(args[0])
			if len(name) > 128 {
				name = name[:128]
			}
			return &loadError{msg: fmt.Sprintf("Unknown command '%s' reading the append only file %s", name, path)}
		}
		if (cmd.arity > 0 && len(args) != cmd.arity) || len(args) < -cmd.arity {
			return badFormat(fmt.Sprintf("at offset %d: wrong number of arguments for '%s'", recStart, cmd.name))
		}
		if !c.multi && cmd.name == "multi" {
			beforeMulti = recStart
		}
		s.gift = ar.gift
		s.call(c, args)
		s.gift = nil
		count++
		if len(c.out) > 0 && c.out[0] == '-' {
			if errs == 0 {
				firstErr = string(c.out[1 : len(c.out)-2])
			}
			errs++
		}
		c.out = c.out[:0]
		if !c.multi {
			good = ar.off
		}
	}
	if c.multi {
		fmt.Fprintf(warn, "Revert incomplete MULTI/EXEC transaction in AOF file %s\n", path)
		good = beforeMulti
	}
	if good < st.Size() {
		fmt.Fprintf(warn, "!!! Truncating the AOF %s at offset %d (of %d bytes) !!!\n", path, good, st.Size())
		if err := os.Truncate(path, good); err != nil {
			return fmt.Errorf("truncating the torn tail of %s: %w", path, err)
		}
		fmt.Fprintf(warn, "AOF %s loaded anyway because aof-load-truncated is enabled\n", path)
	}
	if errs > 0 {
		fmt.Fprintf(warn, "respkv: %d of the commands in the AOF %s were answered with an error (the first: %q)\n", errs, path, firstErr)
	}
	keys := 0
	for _, d := range s.dbs {
		keys += d.size()
	}
	fmt.Fprintf(warn, "respkv: DB loaded from append only file %s: %d commands, %d bytes, %d keys, %.3f seconds\n",
		path, count, good, keys, time.Since(start).Seconds())
	s.rw.baseSize = good
	return nil
}
