package calloop

import "runtime"

// useNetpoll decides the default of WithNetpoller. The runtime netpoller is
// used where it has been measured to win (Linux), except when the program
// has a single P: a goroutine parked in the netpoller then waits for sysmon
// to retake the P from any goroutine blocked in a system call (20 us or
// more per wakeup), while a thread blocked in epoll_wait is woken by the
// kernel directly.
func useNetpoll() bool {
	return runtime.GOOS == "linux" && runtime.GOMAXPROCS(0) > 1
}
