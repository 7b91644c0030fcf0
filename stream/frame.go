package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
)

// Framing says how a byte stream is cut into frames (messages): by line
// ([Lines]) or by a big-endian length prefix ([Uint16Frames],
// [Uint32Frames]). [Framed] turns it into a [Handler] that calls a function
// per frame. The zero Framing is not valid.
type Framing struct {
	kind frameKind
	max  int
}

type frameKind uint8

const (
	frameNone frameKind = iota
	frameLines
	frameU16
	frameU32
)

// Default and largest frame sizes.
const (
	// DefaultMaxFrame is the frame size limit of a Framing made with a
	// max of zero or less (for Uint16Frames, 65535).
	DefaultMaxFrame = 64 << 10
)

// ErrFrameTooLarge closes a connection whose peer sends a frame larger
// than its [Framing] allows (a line longer than the limit, or a length
// prefix above it); [Handler.OnClose] receives an error wrapping it.
var ErrFrameTooLarge = errors.New("stream: frame exceeds the Framing's limit")

// Lines cuts the input into lines ending with "\n"; a "\r" before the
// "\n" is removed too, so "\r\n" and "\n" both end a line. A frame is the
// line without its end. max bounds a line's length without its end
// (DefaultMaxFrame if max <= 0): a longer line closes the connection with
// [ErrFrameTooLarge] as soon as it can no longer fit, at max+1 bytes
// without "\n" (max+2 if the last is "\r"), so the peer cannot make the
// connection buffer more. At the peer's end of
// input, a last line without "\n" is a frame too (as with
// bufio.ScanLines).
func Lines(max int) Framing {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return Framing{kind: frameLines, max: max}
}

// Uint16Frames cuts the input into frames each preceded by its length, a
// big-endian uint16 (the prefix is not part of the frame; a zero length is
// an empty frame). A length above max (DefaultMaxFrame if max <= 0; max is
// capped at 65535) closes the connection with [ErrFrameTooLarge] as soon
// as the prefix arrives; a frame cut short by the peer's end of input
// closes it with an error wrapping io.ErrUnexpectedEOF.
func Uint16Frames(max int) Framing {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return Framing{kind: frameU16, max: min(max, math.MaxUint16)}
}

// Uint32Frames is [Uint16Frames] with a big-endian uint32 length prefix;
// max is capped at the largest int (and, in effect, by
// [Config.MaxInput]: a frame must fit in the input buffer).
func Uint32Frames(max int) Framing {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return Framing{kind: frameU32, max: int(min(uint64(max), math.MaxUint32))}
}

// Max returns the largest frame f accepts.
func (f Framing) Max() int { return f.max }

// String describes f.
func (f Framing) String() string {
	switch f.kind {
	case frameLines:
		return fmt.Sprintf("Lines(%d)", f.max)
	case frameU16:
		return fmt.Sprintf("Uint16Frames(%d)", f.max)
	case frameU32:
		return fmt.Sprintf("Uint32Frames(%d)", f.max)
	}
	return "Framing{}"
}

// next finds the first frame of in: it returns the frame, the number of
// bytes of in it takes (0: in holds no complete frame yet), and an error
// for input f refuses. scanned is a number of bytes at the start of in
// known to hold no line end (lines only: the search resumes after them).
// eof means that no more input will come. next never copies and never
// allocates: frame is a sub-slice of in.
func (f Framing) next(in []byte, scanned int, eof bool) (frame []byte, n int, err error) {
	switch f.kind {
	case frameLines:
		scanned = min(max(scanned, 0), len(in))
		if i := bytes.IndexByte(in[scanned:], '\n'); i >= 0 {
			end := scanned + i
			line := in[:end]
			if end > 0 && in[end-1] == '\r' {
				line = in[:end-1]
			}
			if len(line) > f.max {
				return nil, 0, fmt.Errorf("%w: a line of more than %d bytes", ErrFrameTooLarge, f.max)
			}
			return line, end + 1, nil
		}
		// No line end: refuse a line that can no longer fit, even with
		// a "\r\n" still to come.
		if l := len(in); l > f.max+1 || l == f.max+1 && in[l-1] != '\r' {
			return nil, 0, fmt.Errorf("%w: a line of more than %d bytes", ErrFrameTooLarge, f.max)
		}
		if eof && len(in) > 0 {
			line := in
			if in[len(in)-1] == '\r' {
				line = in[:len(in)-1]
			}
			return line, len(in), nil
		}
		return nil, 0, nil
	case frameU16, frameU32:
		hdr := 2
		if f.kind == frameU32 {
			hdr = 4
		}
		if len(in) < hdr {
			if eof && len(in) > 0 {
				return nil, 0, fmt.Errorf("stream: a frame's length prefix cut short: %w", io.ErrUnexpectedEOF)
			}
			return nil, 0, nil
		}
		var size uint64
		if hdr == 2 {
			size = uint64(binary.BigEndian.Uint16(in))
		} else {
			size = uint64(binary.BigEndian.Uint32(in))
		}
		if size > uint64(f.max) {
			return nil, 0, fmt.Errorf("%w: a frame of %d bytes, above %d", ErrFrameTooLarge, size, f.max)
		}
		if uint64(len(in)-hdr) < size {
			if eof {
				return nil, 0, fmt.Errorf("stream: a frame of %d bytes cut short after %d: %w", size, len(in)-hdr, io.ErrUnexpectedEOF)
			}
			return nil, 0, nil
		}
		end := hdr + int(size) // at most len(in): no overflow
		return in[hdr:end], end, nil
	}
	return nil, 0, errors.New("stream: the zero Framing")
}

// Framed returns h with an OnData that cuts the input into frames by f and
// calls onFrame once per frame, in order; h's other callbacks are kept,
// and its OnData, if any, is replaced. frame is a sub-slice of the
// connection's input, valid only during the call (copy what is kept): a
// frame that arrived whole is not copied, and no frame costs an
// allocation. A nil onFrame gives a Handler without OnData, which [Listen],
// [Dial] and [Wrap] refuse.
//
// Input the framing refuses (a frame above its limit, or cut short by the
// peer's end of input) closes the connection: OnClose gets the error. The
// frames before it are delivered first.
//
// onFrame may use every method of the connection. The frames that follow
// a call that closes the connection, pauses its reading
// ([Conn.PauseReading]) or pushes its output above [Config.HighWater] wait
// (reading pauses, and they are offered again when it resumes, or when the
// output has drained to LowWater), so a peer that pipelines requests
// without reading the replies cannot make the output grow without bound;
// at the peer's end of input, every frame that arrived is delivered.
func Framed[S any](f Framing, onFrame func(s *S, c *Conn[S], frame []byte), h Handler[S]) Handler[S] {
	if onFrame == nil {
		h.OnData = nil
		return h
	}
	h.OnData = func(s *S, c *Conn[S], in []byte) int {
		return c.frames(s, f, onFrame, in)
	}
	return h
}

// frames is Framed's OnData.
func (c *Conn[S]) frames(s *S, f Framing, onFrame func(*S, *Conn[S], []byte), in []byte) int {
	done, scanned := 0, c.fscan
	c.fscan = 0
	for {
		frame, n, err := f.next(in[done:], scanned, c.eof)
		scanned = 0
		if err != nil {
			c.fail(&net.OpError{Op: "read", Net: c.sh.network, Addr: c.raddr, Err: err})
			return len(in)
		}
		if n == 0 {
			if f.kind == frameLines {
				c.fscan = len(in) - done // no line end there: not to be searched again
			}
			return done
		}
		done += n
		onFrame(s, c, frame)
		if c.state != stOpen {
			return len(in)
		}
		if done == len(in) {
			return done
		}
		if !c.eof && c.pause != 0 {
			// Reading paused (by the handler, or by backpressure: the
			// output passed HighWater): the rest is offered again when
			// it resumes.
			return done
		}
	}
}
