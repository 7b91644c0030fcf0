// Package resp parses RESP2 requests (multibulk and inline) without copying
// and appends RESP2 replies to byte slices.
package resp

import (
	"bytes"
)

// InlineMax is the longest inline request, multibulk count line or bulk
// length line accepted before the request is refused (Redis's
// PROTO_INLINE_MAX_SIZE).
const InlineMax = 64 * 1024

// ProtocolError is a malformed request. Its text is Redis's, without the
// "ERR " prefix: "Protocol error: invalid bulk length".
type ProtocolError string

func (e ProtocolError) Error() string { return string(e) }

// The protocol errors, with Redis's texts.
var (
	ErrTooBigInline    error = ProtocolError("Protocol error: too big inline request")
	ErrUnbalanced      error = ProtocolError("Protocol error: unbalanced quotes in request")
	ErrTooBigMbulk     error = ProtocolError("Protocol error: too big mbulk count string")
	ErrInvalidMbulkLen error = ProtocolError("Protocol error: invalid multibulk length")
	ErrTooBigBulk      error = ProtocolError("Protocol error: too big bulk count string")
	ErrInvalidBulkLen  error = ProtocolError("Protocol error: invalid bulk length")
)

// Parser parses requests. Its zero value is not usable: set MaxBulk, or use
// NewParser. A Parser reuses its argument slice and inline scratch buffer:
// the arguments of one Parse call are valid until the next call, and only
// while the input buffer is unchanged.
type Parser struct {
	// MaxBulk is the largest bulk argument accepted (proto-max-bulk-len).
	MaxBulk int64
	argv    [][]byte
	scratch []byte
}

// NewParser returns a parser accepting bulk arguments up to maxBulk bytes.
func NewParser(maxBulk int64) *Parser {
	return &Parser{MaxBulk: maxBulk, argv: make([][]byte, 0, 16)}
}

// Parse parses the first request in b. It returns its arguments (sub-slices
// of b, or of the parser's scratch buffer for quoted inline arguments) and
// the number of bytes it used. n == 0 with a nil error means the request is
// not complete yet. A request with no arguments (an empty line, "*0") is
// returned as n > 0 with no arguments: skip it. A non-nil error is a
// protocol error; the connection should be answered and closed.
func (p *Parser) Parse(b []byte) (args [][]byte, n int, err error) {
	if len(b) == 0 {
		return nil, 0, nil
	}
	if b[0] == '*' {
		return p.multibulk(b)
	}
	return p.inline(b)
}

func (p *Parser) multibulk(b []byte) ([][]byte, int, error) {
	line, next, err := readLine(b, 1, ErrTooBigMbulk)
	if err != nil || next == 0 {
		return nil, 0, err
	}
	count, ok := ParseInt(line)
	if !ok || count > 1<<31-1 {
		return nil, 0, ErrInvalidMbulkLen
	}
	if count <= 0 {
		return nil, next, nil
	}
	argv := p.argv[:0]
	pos := next
	for i := int64(0); i < count; i++ {
		if pos >= len(b) {
			p.argv = argv[:0]
			return nil, 0, nil
		}
		line, next, err := readLine(b, pos+1, ErrTooBigBulk)
		if err != nil {
			return nil, 0, err
		}
		if next == 0 {
			p.argv = argv[:0]
			return nil, 0, nil
		}
		if b[pos] != '$' {
			return nil, 0, ProtocolError("Protocol error: expected '$', got '" + string(b[pos:pos+1]) + "'")
		}
		size, ok := ParseInt(line)
		if !ok || size < 0 || size > p.MaxBulk {
			return nil, 0, ErrInvalidBulkLen
		}
		if int64(len(b)-next) < size+2 {
			p.argv = argv[:0]
			return nil, 0, nil
		}
		end := next + int(size)
		argv = append(argv, b[next:end:end])
		pos = end + 2
	}
	p.argv = argv
	return argv, pos, nil
}

func limit(b []byte) []byte {
	if len(b) > InlineMax+2 {
		return b[:InlineMax+2]
	}
	return b
}

// readLine finds the "\r\n"-terminated line starting at start (just after
// its type byte, which is at start-1). It returns the line and the position
// after its terminator, or next == 0 if the line is incomplete.
func readLine(b []byte, start int, tooBig error) (line []byte, next int, err error) {
	rest := b[start-1:]
	i := bytes.IndexByte(limit(rest), '\r')
	if i < 0 {
		if len(rest) > InlineMax {
			return nil, 0, tooBig
		}
		return nil, 0, nil
	}
	// Redis needs the '\n' to be in the buffer too.
	if i+1 >= len(rest) {
		return nil, 0, nil
	}
	if i == 0 {
		// The type byte itself is the '\r': the caller reports it.
		return nil, start + 1, nil
	}
	return rest[1:i], start - 1 + i + 2, nil
}

func (p *Parser) inline(b []byte) ([][]byte, int, error) {
	lim := limit(b)
	nl := bytes.IndexByte(lim, '\n')
	if nl >= 0 && bytes.IndexByte(lim[:nl], 0) >= 0 {
		// Redis looks for the newline with strchr, which stops at a NUL:
		// the request stays incomplete until it is too big.
		nl = -1
	}
	if nl < 0 {
		if len(b) > InlineMax {
			return nil, 0, ErrTooBigInline
		}
		return nil, 0, nil
	}
	line := b[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	argv, ok := p.splitArgs(line, p.argv[:0])
	if !ok {
		return nil, 0, ErrUnbalanced
	}
	p.argv = argv
	return argv, nl + 1, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// splitArgs is Redis's sdssplitargs: words separated by spaces, with "..."
// (backslash escapes, \xHH) and '...' (only \' escaped) quoting. Unquoted
// words are sub-slices of line; quoted ones are unescaped into the scratch
// buffer.
func (p *Parser) splitArgs(line []byte, argv [][]byte) ([][]byte, bool) {
	p.scratch = p.scratch[:0]
	// Words may not point into scratch while it grows: record offsets first.
	type span struct {
		start, end int
		quoted     bool
	}
	var spansBuf [16]span
	spans := spansBuf[:0]
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			break
		}
		// Fast path: an unquoted word without quotes inside.
		j := i
		plain := true
		for j < len(line) && !isSpace(line[j]) {
			if line[j] == '"' || line[j] == '\'' {
				plain = false
				break
			}
			j++
		}
		if plain {
			spans = append(spans, span{i, j, false})
			i = j
			continue
		}
		start := len(p.scratch)
		inq, insq, done := false, false, false
		for !done {
			if inq {
				if i >= len(line) {
					return argv, false
				}
				if line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]) {
					p.scratch = append(p.scratch, hexVal(line[i+2])*16+hexVal(line[i+3]))
					i += 3
				} else if line[i] == '\\' && i+1 < len(line) {
					i++
					c := line[i]
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					p.scratch = append(p.scratch, c)
				} else if line[i] == '"' {
					// The closing quote must be followed by a space or the end.
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return argv, false
					}
					done = true
				} else {
					p.scratch = append(p.scratch, line[i])
				}
			} else if insq {
				if i >= len(line) {
					return argv, false
				}
				if line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					i++
					p.scratch = append(p.scratch, '\'')
				} else if line[i] == '\'' {
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return argv, false
					}
					done = true
				} else {
					p.scratch = append(p.scratch, line[i])
				}
			} else {
				if i >= len(line) {
					done = true
					break
				}
				switch line[i] {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					p.scratch = append(p.scratch, line[i])
				}
			}
			if i < len(line) {
				i++
			}
		}
		spans = append(spans, span{start, len(p.scratch), true})
	}
	for _, sp := range spans {
		if sp.quoted {
			argv = append(argv, p.scratch[sp.start:sp.end:sp.end])
		} else {
			argv = append(argv, line[sp.start:sp.end:sp.end])
		}
	}
	return argv, true
}

// ParseInt parses b as Redis's string2ll does: an optional '-', then digits,
// no leading zeros (except "0" itself), no '+', no spaces, within int64.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	i := 0
	if b[0] == '-' {
		neg = true
		i = 1
		if len(b) == 1 {
			return 0, false
		}
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		nv := v*10 + uint64(c-'0')
		if nv < v*10 {
			return 0, false
		}
		v = nv
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
