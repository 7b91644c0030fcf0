package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// epollClient is the default load engine: every connection on one OS thread,
// driven by a hand-written level-triggered epoll loop with raw system calls.
// It costs about what the server costs per request (one write, one read, a
// share of an epoll_wait), so that on a small machine the server, not the
// client, is what is measured. Returns per-connection counts and latencies.
func epollClient(ap netip.AddrPort, conns, size int, start, end time.Time, dialWait time.Duration) ([]worker, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer unix.Close(epfd)

	type conn struct {
		fd   int
		msg  []byte
		got  []byte
		have int
		seq  int
		t0   time.Time
		done bool
	}
	cs := make([]*conn, conns)
	defer func() {
		for _, c := range cs {
			if c != nil {
				unix.Close(c.fd)
			}
		}
	}()
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	deadline := time.Now().Add(dialWait)
	for i := range cs {
		var fd int
		for {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("socket: %w", err)
			}
			err = unix.Connect(fd, sa)
			if err == nil {
				break
			}
			unix.Close(fd)
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("connect %v: %w", ap, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, err
		}
		c := &conn{fd: fd, msg: make([]byte, size), got: make([]byte, size)}
		for j := range c.msg {
			c.msg[j] = byte('a' + (i+j)%26)
		}
		cs[i] = c
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}

	ws := make([]worker, conns)
	for i := range ws {
		ws[i].lat = make([]time.Duration, 0, 1<<16)
	}
	send := func(i int, c *conn, now time.Time) error {
		if now.After(end) {
			c.done = true
			return nil
		}
		c.msg[0] = byte(c.seq)
		c.t0, c.have = now, 0
		k, err := unix.Write(c.fd, c.msg)
		if err != nil || k != len(c.msg) {
			return fmt.Errorf("conn %d write: %d bytes, %v", i, k, err)
		}
		return nil
	}
	now := time.Now()
	for i, c := range cs {
		if err := send(i, c, now); err != nil {
			return nil, err
		}
	}
	events := make([]unix.EpollEvent, conns)
	active := conns
	for active > 0 {
		n, err := unix.EpollWait(epfd, events, 100)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("epoll_wait: %w", err)
		}
		if n == 0 && time.Since(end) > 5*time.Second {
			return nil, fmt.Errorf("no echo for 5 s after the end (%d connections still waiting)", active)
		}
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			c := cs[i]
			if c.done {
				continue
			}
			k, err := unix.Read(c.fd, c.got[c.have:])
			if err == unix.EAGAIN {
				continue
			}
			if err != nil || k == 0 {
				return nil, fmt.Errorf("conn %d read: %d bytes, %v", i, k, err)
			}
			c.have += k
			if c.have < len(c.got) {
				continue
			}
			if !bytes.Equal(c.got, c.msg) {
				return nil, fmt.Errorf("conn %d request %d: echo differs", i, c.seq)
			}
			t1 := time.Now()
			if !c.t0.Before(start) && !t1.After(end) {
				ws[i].count++
				ws[i].lat = append(ws[i].lat, t1.Sub(c.t0))
			}
			c.seq++
			if err := send(i, c, t1); err != nil {
				return nil, err
			}
			if c.done {
				active--
			}
		}
	}
	return ws, nil
}
