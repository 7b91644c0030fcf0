//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// runLoad runs the load generator against addr and prints the BENCH line.
func runLoad(impl, addr string, conns, size int, dur time.Duration) error {
	runtime.LockOSThread()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	if conns <= 0 || size <= 0 || size > 65000 {
		return fmt.Errorf("bad -c %d or -size %d", conns, size)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	type sock struct {
		fd   int
		sent time.Time
		seq  byte
	}
	socks := make([]sock, conns)
	msg := make([]byte, size)
	for i := range socks {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
			return err
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return err
		}
		socks[i].fd = fd
	}
	fill := func(i int) {
		for k := range msg {
			msg[k] = byte(i) + socks[i].seq + byte(k)
		}
	}
	send := func(i int) error {
		fill(i)
		socks[i].sent = time.Now()
		_, err := unix.Write(socks[i].fd, msg)
		if err != nil && err != unix.EAGAIN {
			return err
		}
		return nil
	}
	for i := range socks {
		if err := send(i); err != nil {
			return err
		}
	}
	events := make([]unix.EpollEvent, 128)
	buf := make([]byte, 65536)
	start := time.Now()
	warm := start.Add(500 * time.Millisecond)
	end := warm.Add(dur)
	var count, lost, counted uint64
	lastCheck := start
	for {
		now := time.Now()
		if now.After(end) {
			break
		}
		n, err := unix.EpollWait(ep, events, 50)
		if err != nil && err != unix.EINTR {
			return err
		}
		for _, ev := range events[:max(n, 0)] {
			i := int(ev.Fd)
			for {
				m, err := unix.Read(socks[i].fd, buf)
				if err == unix.EAGAIN {
					break
				}
				if err != nil {
					return fmt.Errorf("read: %v", err)
				}
				fill(i)
				if !bytes.Equal(buf[:m], msg) {
					continue // a late echo of a datagram counted lost: ignore it
				}
				count++
				if time.Now().After(warm) {
					counted++
				}
				socks[i].seq++
				if err := send(i); err != nil {
					return err
				}
			}
		}
		if now.Sub(lastCheck) > 100*time.Millisecond {
			lastCheck = now
			for i := range socks {
				if now.Sub(socks[i].sent) > 200*time.Millisecond {
					lost++
					if err := send(i); err != nil {
						return err
					}
				}
			}
		}
	}
	if counted == 0 {
		fmt.Fprintln(os.Stderr, "FAIL: no echo")
		return fmt.Errorf("%s: no echo", impl)
	}
	fmt.Fprintf(os.Stderr, "udp-echo %s: %d echoes in %v after warm-up, %d lost and resent\n", impl, counted, dur, lost)
	fmt.Printf("BENCH udp-echo %s %.0f req/s\n", impl, float64(counted)/dur.Seconds())
	return nil
}
