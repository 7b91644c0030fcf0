// Command uringpp is an experiment (issue 14, item 4): the fd-pingpong workload
// of bench/WORKLOADS.md driven by io_uring instead of epoll, through raw system
// calls (golang.org/x/sys/unix, no new dependency), to see whether a round trip
// can cost fewer system calls than the epoll floor's six (two waits, two
// reads, two writes).
//
//	uringpp [-r REPS] [-n N] [-entries E] [-mode plain|coop|defer]
//
// A read is kept outstanding on each end of a blocking AF_UNIX socketpair (so
// that io_uring parks it on its internal poll instead of failing with EAGAIN);
// when b's read completes, a write of one byte on b and a new read on b are
// queued; when a's read completes, the same on a. Everything queued is
// submitted by the same io_uring_enter that waits for the next completion, so
// one system call both submits and waits. Prints
//
//	BENCH fd-pingpong go-uring <ops/s> ops/s
//
// and, on stderr, the io_uring_enter calls per round trip. It checks round
// trips, bytes and every write's result like the other implementations.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel ABI (include/uapi/linux/io_uring.h).
type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad         uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

const (
	opRead  = 22 // IORING_OP_READ
	opWrite = 23 // IORING_OP_WRITE

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	featSingleMmap = 1 << 0
	enterGetEvents = 1 << 0

	opRecv = 27 // IORING_OP_RECV

	sqeBufferSelect = 1 << 5 // IOSQE_BUFFER_SELECT
	recvMultishot   = 1 << 1 // IORING_RECV_MULTISHOT (in ioprio), 6.0
	cqeFBuffer      = 1 << 0 // IORING_CQE_F_BUFFER: flags>>16 is the buffer id
	cqeFMore        = 1 << 1 // IORING_CQE_F_MORE: the multishot request goes on

	registerPbufRing = 22 // IORING_REGISTER_PBUF_RING, 5.19

	setupCoopTaskrun  = 1 << 8  // IORING_SETUP_COOP_TASKRUN (5.19)
	setupSingleIssuer = 1 << 12 // IORING_SETUP_SINGLE_ISSUER (6.0)
	setupDeferTaskrun = 1 << 13 // IORING_SETUP_DEFER_TASKRUN (6.1): completions run only inside io_uring_enter
)

func init() {
	// The layout must be the kernel's.
	if unsafe.Sizeof(params{}) != 120 || unsafe.Sizeof(sqe{}) != 64 || unsafe.Sizeof(cqe{}) != 16 {
		panic("uringpp: io_uring struct sizes do not match the kernel ABI")
	}
}

// ring is one io_uring instance with its three mappings.
type ring struct {
	fd                 int
	sqRing, cqRing     []byte
	sqes               []sqe
	sqHead, sqTail     *uint32
	sqMask             uint32
	sqArray            []uint32
	cqHead, cqTail     *uint32
	cqMask             uint32
	cqes               []cqe
	pending            uint32 // SQEs written since the last enter
	enters             uint64
	sqEntries, cqCount uint32
}

func newRing(entries, flags uint32) (*ring, error) {
	p := params{flags: flags}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	r := &ring{fd: int(fd), sqEntries: p.sqEntries}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqRing, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap sq ring: %w", err)
	}
	if single {
		r.cqRing = r.sqRing
	} else if r.cqRing, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap cq ring: %w", err)
	}
	sqesMem, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mmap sqes: %w", err)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqesMem[0])), p.sqEntries)
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	r.sqHead, r.sqTail = u32(r.sqRing, p.sqOff.head), u32(r.sqRing, p.sqOff.tail)
	r.sqMask = *u32(r.sqRing, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.sqRing, p.sqOff.array), p.sqEntries)
	r.cqHead, r.cqTail = u32(r.cqRing, p.cqOff.head), u32(r.cqRing, p.cqOff.tail)
	r.cqMask = *u32(r.cqRing, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqRing[p.cqOff.cqes])), p.cqEntries)
	r.cqCount = p.cqEntries
	return r, nil
}

func (r *ring) close() {
	if r.sqes != nil {
		unix.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&r.sqes[0])), len(r.sqes)*int(unsafe.Sizeof(sqe{}))))
	}
	if r.cqRing != nil && &r.cqRing[0] != &r.sqRing[0] {
		unix.Munmap(r.cqRing)
	}
	if r.sqRing != nil {
		unix.Munmap(r.sqRing)
	}
	unix.Close(r.fd)
}

// queue writes one SQE; it is submitted by the next enter.
func (r *ring) queue(op uint8, fd int, buf []byte, userData uint64) error {
	tail := *r.sqTail // only we write the tail
	if tail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		return fmt.Errorf("submission queue full")
	}
	i := tail & r.sqMask
	r.sqes[i] = sqe{opcode: op, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(&buf[0]))), len: uint32(len(buf)), off: ^uint64(0), userData: userData}
	r.sqArray[i] = i
	atomic.StoreUint32(r.sqTail, tail+1)
	r.pending++
	return nil
}

// enter submits what is queued and waits for at least one completion.
func (r *ring) enter() error {
	for {
		r.enters++
		n, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending), 1, enterGetEvents, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return fmt.Errorf("io_uring_enter: %w", e)
		}
		r.pending -= uint32(n)
		return nil
	}
}

const (
	udReadA = iota + 1
	udReadB
	udWriteA
	udWriteB
)

func pingpong(n uint64, entries, flags uint32) (time.Duration, float64, error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0) // blocking: io_uring polls internally
	if err != nil {
		return 0, 0, err
	}
	a, b := sv[0], sv[1]
	defer unix.Close(a)
	defer unix.Close(b)
	r, err := newRing(entries, flags)
	if err != nil {
		return 0, 0, err
	}
	defer r.close()

	bufA, bufB := make([]byte, 16), make([]byte, 16)
	ping, pong := []byte{1}, []byte{2}
	var count, bBytes uint64
	t0 := time.Now()
	for _, q := range []struct {
		op uint8
		fd int
		b  []byte
		ud uint64
	}{{opWrite, a, ping, udWriteA}, {opRead, a, bufA, udReadA}, {opRead, b, bufB, udReadB}} {
		if err := r.queue(q.op, q.fd, q.b, q.ud); err != nil {
			return 0, 0, err
		}
	}
	for count < n {
		if err := r.enter(); err != nil {
			return 0, 0, err
		}
		head := *r.cqHead
		tail := atomic.LoadUint32(r.cqTail)
		for ; head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			switch c.userData {
			case udReadB:
				if c.res != 1 {
					return 0, 0, fmt.Errorf("read b: %d", c.res)
				}
				bBytes++
				if err := r.queue(opWrite, b, pong, udWriteB); err != nil {
					return 0, 0, err
				}
				if err := r.queue(opRead, b, bufB, udReadB); err != nil {
					return 0, 0, err
				}
			case udReadA:
				if c.res != 1 {
					return 0, 0, fmt.Errorf("read a: %d", c.res)
				}
				count++
				if count == n {
					continue
				}
				if err := r.queue(opWrite, a, ping, udWriteA); err != nil {
					return 0, 0, err
				}
				if err := r.queue(opRead, a, bufA, udReadA); err != nil {
					return 0, 0, err
				}
			case udWriteA, udWriteB:
				if c.res != 1 {
					return 0, 0, fmt.Errorf("write (%d): %d", c.userData, c.res)
				}
			default:
				return 0, 0, fmt.Errorf("unknown completion %d", c.userData)
			}
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	elapsed := time.Since(t0)
	if count != n || bBytes != n {
		return 0, 0, fmt.Errorf("%d round trips, %d bytes at b, want %d", count, bBytes, n)
	}
	// The read still outstanding on b is cancelled when the ring closes.
	return elapsed, float64(r.enters) / float64(n), nil
}

// bufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): the kernel
// picks a buffer for each multishot receive and names it in the completion;
// the program hands it back by advancing the tail.
type bufRing struct {
	mem   []byte // the ring: entries of {addr u64, len u32, bid u16, resv u16}; tail overlays entry 0's resv
	bufs  []byte // the buffers, bufSize each
	n     uint16
	tail  uint16
	group uint16
}

const bufSize = 64

type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

func newBufRing(r *ring, n uint16, group uint16) (*bufRing, error) {
	page := unix.Getpagesize()
	memSize := (int(n)*16 + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	bufs, err := unix.Mmap(-1, 0, int(n)*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	br := &bufRing{mem: mem, bufs: bufs, n: n, group: group}
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), ringEntries: uint32(n), bgid: group}
	if _, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0); e != 0 {
		br.free()
		return nil, fmt.Errorf("IORING_REGISTER_PBUF_RING: %w", e)
	}
	for i := uint16(0); i < n; i++ {
		br.give(i)
	}
	return br, nil
}

// give hands buffer bid (back) to the kernel.
func (br *bufRing) give(bid uint16) {
	e := unsafe.Pointer(&br.mem[int(br.tail&(br.n-1))*16])
	*(*uint64)(e) = uint64(uintptr(unsafe.Pointer(&br.bufs[int(bid)*bufSize])))
	*(*uint32)(unsafe.Add(e, 8)) = bufSize
	*(*uint16)(unsafe.Add(e, 12)) = bid
	br.tail++
	// The tail is the u16 at byte 14 of the ring; the kernel reads it with acquire.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&br.mem[12])), uint32(*(*uint16)(unsafe.Pointer(&br.mem[12])))|uint32(br.tail)<<16)
}

func (br *bufRing) free() {
	unix.Munmap(br.bufs)
	unix.Munmap(br.mem)
}

// pingpongMultishot is fd-pingpong with one multishot receive per end, armed
// once: every byte that arrives posts a completion without a new request, so
// the only requests per round trip are the two writes.
func pingpongMultishot(n uint64, entries, flags uint32) (time.Duration, float64, error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	a, b := sv[0], sv[1]
	defer unix.Close(a)
	defer unix.Close(b)
	r, err := newRing(entries, flags)
	if err != nil {
		return 0, 0, err
	}
	defer r.close()
	br, err := newBufRing(r, 16, 7)
	if err != nil {
		return 0, 0, err
	}
	defer br.free()

	recv := func(fd int, ud uint64) error {
		tail := *r.sqTail
		if tail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
			return fmt.Errorf("submission queue full")
		}
		i := tail & r.sqMask
		r.sqes[i] = sqe{opcode: opRecv, flags: sqeBufferSelect, ioprio: recvMultishot, fd: int32(fd), bufIndex: br.group, userData: ud}
		r.sqArray[i] = i
		atomic.StoreUint32(r.sqTail, tail+1)
		r.pending++
		return nil
	}
	ping, pong := []byte{1}, []byte{2}
	var count, bBytes uint64
	t0 := time.Now()
	if err := recv(a, udReadA); err != nil {
		return 0, 0, err
	}
	if err := recv(b, udReadB); err != nil {
		return 0, 0, err
	}
	if err := r.queue(opWrite, a, ping, udWriteA); err != nil {
		return 0, 0, err
	}
	for count < n {
		if err := r.enter(); err != nil {
			return 0, 0, err
		}
		head := *r.cqHead
		tail := atomic.LoadUint32(r.cqTail)
		for ; head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			switch c.userData {
			case udReadA, udReadB:
				if c.res < 0 || c.flags&cqeFBuffer == 0 {
					return 0, 0, fmt.Errorf("recv %d: res %d flags %#x", c.userData, c.res, c.flags)
				}
				br.give(uint16(c.flags >> 16))
				if c.flags&cqeFMore == 0 { // the kernel ended the multishot: arm it again
					fd := a
					if c.userData == udReadB {
						fd = b
					}
					if err := recv(fd, c.userData); err != nil {
						return 0, 0, err
					}
				}
				for k := int32(0); k < c.res; k++ {
					if c.userData == udReadB {
						bBytes++
						if err := r.queue(opWrite, b, pong, udWriteB); err != nil {
							return 0, 0, err
						}
					} else {
						count++
						if count < n {
							if err := r.queue(opWrite, a, ping, udWriteA); err != nil {
								return 0, 0, err
							}
						}
					}
				}
			case udWriteA, udWriteB:
				if c.res != 1 {
					return 0, 0, fmt.Errorf("write (%d): %d", c.userData, c.res)
				}
			default:
				return 0, 0, fmt.Errorf("unknown completion %d", c.userData)
			}
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	elapsed := time.Since(t0)
	if count != n || bBytes != n {
		return 0, 0, fmt.Errorf("%d round trips, %d bytes at b, want %d", count, bBytes, n)
	}
	return elapsed, float64(r.enters) / float64(n), nil
}

func main() {
	reps := flag.Int("r", 3, "runs; the best is printed")
	n := flag.Uint64("n", 500_000, "round trips (WORKLOADS.md: 500,000)")
	entries := flag.Uint("entries", 8, "submission queue entries")
	mode := flag.String("mode", "plain", "ring setup: plain, coop (COOP_TASKRUN) or defer (SINGLE_ISSUER|DEFER_TASKRUN, the thread locked)")
	multishot := flag.Bool("multishot", false, "one multishot IORING_OP_RECV per end with a provided-buffer ring, instead of a read per byte")
	flag.Parse()
	run := pingpong
	if *multishot {
		run = pingpongMultishot
	}
	var flags uint32
	switch *mode {
	case "plain":
	case "coop":
		flags = setupCoopTaskrun
	case "defer":
		flags = setupSingleIssuer | setupDeferTaskrun
		// A single-issuer ring belongs to the thread that created it; a goroutine
		// may move between threads unless locked.
		runtime.LockOSThread()
	default:
		fmt.Fprintf(os.Stderr, "uringpp: -mode must be plain, coop or defer\n")
		os.Exit(2)
	}
	best := 0.0
	for rep := 1; rep <= max(*reps, 1); rep++ {
		el, per, err := run(*n, uint32(*entries), flags)
		if err != nil {
			fmt.Fprintf(os.Stderr, "go-uring: FAIL: fd-pingpong run %d: %v\n", rep, err)
			os.Exit(1)
		}
		v := float64(*n) / el.Seconds()
		fmt.Fprintf(os.Stderr, "go-uring: fd-pingpong run %d (%s, multishot %v): %.0f ops/s (%.2f io_uring_enter per round trip)\n", rep, *mode, *multishot, v, per)
		best = max(best, v)
	}
	fmt.Printf("BENCH fd-pingpong go-uring %.0f ops/s\n", best)
}
