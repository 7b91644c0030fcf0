//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"syscall"
	"testing"

	"github.com/calloop-go/calloop"
)

// nopParent is a parent source with no descriptor of its own.
type nopParent struct{ reg *calloop.Registrar }

func (p *nopParent) Register(r *calloop.Registrar) error { p.reg = r; return nil }
func (p *nopParent) Unregister(*calloop.Registrar) error { return nil }
func (p *nopParent) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

// subSource reads its descriptor under a sub-token, the way a composite is
// written without children.
type subSource struct {
	fd  int
	rw  bool
	n   *int
	buf [1]byte
}

func (p *subSource) Register(r *calloop.Registrar) error {
	return r.AddFD(p.fd, 3, calloop.Readable, calloop.Level)
}
func (p *subSource) Unregister(r *calloop.Registrar) error { return r.DeleteFD(p.fd) }
func (p *subSource) Process(_ *int, sub uint16, _ calloop.Events) (calloop.Action, error) {
	if sub == 3 {
		*p.n++
		if p.rw {
			syscall.Read(p.fd, p.buf[:])
		}
	}
	return calloop.Continue, nil
}

// BenchmarkCompositeFD measures one fd event through a composite source
// against a bare AddFD source, in the same run: "bare" is a plain AddFD,
// "child" the same fd source adopted by a parent, "depth3" adopted three
// parents down, "subtoken" a custom source that registers the fd itself and
// demultiplexes by sub-token. "level" keeps the fd readable (the dispatch
// path alone); "write-read" writes and reads a byte per event.
func BenchmarkCompositeFD(b *testing.B) {
	for _, rw := range []bool{false, true} {
		mode := "level"
		if rw {
			mode = "write-read"
		}
		for _, shape := range []string{"bare", "child", "depth3", "subtoken"} {
			b.Run(mode+"/"+shape, func(b *testing.B) {
				fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
				ours, peer := fds[0], fds[1]
				syscall.SetNonblock(ours, true)
				l := newLoop[int](b)
				var n int
				var buf [1]byte
				cb := func(s *int, _ calloop.Events) calloop.Action {
					n++
					if rw {
						syscall.Read(ours, buf[:])
					}
					return calloop.Continue
				}
				switch shape {
				case "subtoken":
					_, err = l.AddSource(&subSource{fd: ours, rw: rw, n: &n})
				default:
					depth := map[string]int{"bare": 0, "child": 1, "depth3": 3}[shape]
					var parent *nopParent
					for range depth {
						p := &nopParent{}
						tok, err := l.AddSource(p)
						if err != nil {
							b.Fatal(err)
						}
						if parent != nil {
							if err := parent.reg.Adopt(tok); err != nil {
								b.Fatal(err)
							}
						}
						parent = p
					}
					var tok calloop.Token
					tok, err = l.AddFD(ours, calloop.Readable, calloop.Level, cb)
					if err == nil && parent != nil {
						err = parent.reg.Adopt(tok)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				one := []byte{1}
				if !rw {
					syscall.Write(peer, one)
				}
				var s int
				b.ReportAllocs()
				for b.Loop() {
					if rw {
						syscall.Write(peer, one)
					}
					if err := l.Dispatch(0, &s); err != nil {
						b.Fatal(err)
					}
				}
				if n != b.N {
					b.Fatalf("%d callbacks in %d dispatches", n, b.N)
				}
			})
		}
	}
}
