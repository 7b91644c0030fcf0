package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

// decode cuts the chunks, arriving one after the other, into frames as a
// connection with Framed's OnData does: unconsumed input is kept and
// offered again, prefixed to the next chunk, with the count of bytes
// already searched for a line end. It returns the frames (copied) and the
// first error.
func decode(f Framing, chunks [][]byte) ([][]byte, error) {
	var frames [][]byte
	var kept []byte
	scanned := 0
	for i, ch := range chunks {
		eof := i == len(chunks)-1
		in := append(kept, ch...)
		done, sc := 0, scanned
		for {
			frame, n, err := f.next(in[done:], sc, eof)
			sc = 0
			if err != nil {
				return frames, err
			}
			if n == 0 {
				break
			}
			if start := done + hdrLen(f); len(frame) > 0 && &frame[0] != &in[start] {
				panic("frame is not a sub-slice of the input")
			}
			frames = append(frames, append([]byte(nil), frame...))
			done += n
		}
		scanned = len(in) - done
		kept = append([]byte(nil), in[done:]...)
		if eof && len(kept) > 0 {
			panic("input left at the end")
		}
	}
	return frames, nil
}

// hdrLen returns the length of f's prefix.
func hdrLen(f Framing) int {
	switch f.kind {
	case frameU16:
		return 2
	case frameU32:
		return 4
	}
	return 0
}

func TestFramingTable(t *testing.T) {
	big := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	u16 := func(n int, body []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(n)), body...) }
	u32 := func(n uint32, body []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, n), body...) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name   string
		f      Framing
		in     []byte
		frames []string
		err    error // nil, ErrFrameTooLarge or io.ErrUnexpectedEOF
	}{
		{"lines", Lines(8), []byte("a\nbc\r\n\n\r\nd\re\n"), []string{"a", "bc", "", "", "d\re"}, nil},
		{"last line without end", Lines(8), []byte("a\nlast"), []string{"a", "last"}, nil},
		{"last line with a lone CR", Lines(8), []byte("a\r"), []string{"a"}, nil},
		{"line of max", Lines(4), []byte("abcd\r\nabcd\n"), []string{"abcd", "abcd"}, nil},
		{"line past max", Lines(4), []byte("ok\nabcde\n"), []string{"ok"}, ErrFrameTooLarge},
		{"line past max, no end", Lines(4), cat([]byte("ok\n"), big(6)), []string{"ok"}, ErrFrameTooLarge},
		{"line of max+1 with CR", Lines(4), []byte("abcde\r\n"), nil, ErrFrameTooLarge},
		{"u16 zero", Uint16Frames(0), cat(u16(0, nil), u16(1, []byte("a"))), []string{"", "a"}, nil},
		{"u16 max", Uint16Frames(5), u16(5, []byte("12345")), []string{"12345"}, nil},
		{"u16 past max", Uint16Frames(5), cat(u16(1, []byte("z")), u16(6, []byte("123456"))), []string{"z"}, ErrFrameTooLarge},
		{"u16 65535", Uint16Frames(math.MaxInt), u16(65535, big(65535)), []string{string(big(65535))}, nil},
		{"u16 cut", Uint16Frames(10), u16(5, []byte("12")), nil, io.ErrUnexpectedEOF},
		{"u16 prefix cut", Uint16Frames(10), []byte{0}, nil, io.ErrUnexpectedEOF},
		{"u32 zero", Uint32Frames(4), u32(0, nil), []string{""}, nil},
		{"u32 max", Uint32Frames(3), u32(3, []byte("abc")), []string{"abc"}, nil},
		{"u32 past max", Uint32Frames(3), u32(4, []byte("abcd")), nil, ErrFrameTooLarge},
		{"u32 all ones, default", Uint32Frames(0), u32(math.MaxUint32, nil), nil, ErrFrameTooLarge},
		{"u32 prefix cut", Uint32Frames(0), []byte{0, 0, 1}, nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := [][]byte{tc.in}
			// Whole, then split at every byte, then one byte at a time.
			splits := [][][]byte{chunks}
			for i := 1; i < len(tc.in) && len(tc.in) < 1000; i++ {
				splits = append(splits, [][]byte{tc.in[:i], tc.in[i:]})
			}
			if len(tc.in) < 1000 {
				var one [][]byte
				for i := range tc.in {
					one = append(one, tc.in[i:i+1])
				}
				splits = append(splits, one)
			}
			for _, sp := range splits {
				frames, err := decode(tc.f, sp)
				if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("split %d: err %v, want %v", len(sp[0]), err, tc.err)
				}
				if len(frames) != len(tc.frames) {
					t.Fatalf("split %d: frames %q, want %q", len(sp[0]), frames, tc.frames)
				}
				for i := range frames {
					if string(frames[i]) != tc.frames[i] {
						t.Fatalf("split %d: frames %q, want %q", len(sp[0]), frames, tc.frames)
					}
				}
			}
		})
	}
	// A prefix of all ones with no limit but the largest waits for its
	// 4 GiB (Config.MaxInput decides); the default limit refuses it.
	if fr, n, err := Uint32Frames(math.MaxInt).next(u32(math.MaxUint32, nil), 0, false); fr != nil || n != 0 || err != nil {
		t.Fatalf("next = %q %d %v, want to wait", fr, n, err)
	}
	if _, _, err := (Framing{}).next([]byte("x\n"), 0, false); err == nil {
		t.Fatal("the zero Framing decoded")
	}
}

// A line that never ends is refused after max+2 bytes, and searching it
// costs linear time however it is split: the bytes already searched are
// not searched again.
func TestFramingLongLineLinear(t *testing.T) {
	f := Lines(1 << 20)
	in := bytes.Repeat([]byte{'x'}, 1<<20)
	scanned, searched := 0, 0
	for end := 1; end <= len(in); end++ {
		_, n, err := f.next(in[:end], scanned, false)
		if n != 0 || err != nil {
			t.Fatalf("at %d: n=%d err=%v", end, n, err)
		}
		searched += end - scanned
		scanned = end
	}
	if searched != len(in) {
		t.Fatalf("searched %d bytes for %d of input", searched, len(in))
	}
	if _, _, err := f.next(append(in, 'x', 'x'), scanned, false); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("max+2 bytes without a line end: %v", err)
	}
}

func TestFramingNoAllocs(t *testing.T) {
	in := []byte("hello world\r\n\x00\x05hello")
	lines, u16 := Lines(0), Uint16Frames(0)
	if n := testing.AllocsPerRun(100, func() {
		lines.next(in, 0, false)
		u16.next(in[13:], 0, false)
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

// FuzzFraming: any input, cut anywhere, decodes to the same frames and the
// same verdict as the input in one piece, every frame within the limit,
// and the frames encode back to the input they took.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("a\r\nbb\n\nccc"), uint8(0), uint16(4), uint64(1))
	f.Add([]byte("\x00\x00\x00\x03abc\x00\x00"), uint8(2), uint16(3), uint64(7))
	f.Add([]byte("\xff\xff"), uint8(1), uint16(0), uint64(3))
	f.Add([]byte("\x00\x04abcd\x00\x05abcde"), uint8(1), uint16(4), uint64(9))
	f.Fuzz(func(t *testing.T, in []byte, kind uint8, max uint16, seed uint64) {
		var fr Framing
		switch kind % 3 {
		case 0:
			fr = Lines(int(max))
		case 1:
			fr = Uint16Frames(int(max))
		default:
			fr = Uint32Frames(int(max))
		}
		whole, werr := decode(fr, [][]byte{in})
		r := rand.New(rand.NewPCG(seed, 1))
		var chunks [][]byte
		for rest := in; ; {
			n := r.IntN(len(rest) + 1)
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
			if len(rest) == 0 {
				break
			}
		}
		parts, perr := decode(fr, chunks)
		if (werr == nil) != (perr == nil) {
			t.Fatalf("whole: %v, in %d chunks: %v", werr, len(chunks), perr)
		}
		// A refusal is seen as early in pieces as in one piece, or
		// earlier (a too-long line without an end is refused as soon as
		// it cannot fit); the frames before it agree.
		if werr == nil && len(parts) != len(whole) || len(parts) > len(whole) {
			t.Fatalf("whole: %d frames, in chunks: %d", len(whole), len(parts))
		}
		var re []byte
		for i, p := range parts {
			if !bytes.Equal(p, whole[i]) {
				t.Fatalf("frame %d: %q in chunks, %q whole", i, p, whole[i])
			}
			if len(p) > fr.max {
				t.Fatalf("frame %d of %d bytes, max %d", i, len(p), fr.max)
			}
			switch fr.kind {
			case frameLines:
				if bytes.IndexByte(p, '\n') >= 0 {
					t.Fatalf("line %q holds a line end", p)
				}
			case frameU16:
				re = binary.BigEndian.AppendUint16(re, uint16(len(p)))
			case frameU32:
				re = binary.BigEndian.AppendUint32(re, uint32(len(p)))
			}
			re = append(re, p...)
		}
		if fr.kind != frameLines && werr == nil && !bytes.Equal(re, in) {
			t.Fatalf("frames encode to %q, input %q", re, in)
		}
	})
}
