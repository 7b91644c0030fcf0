package calloop

// useNetpoll decides the default of WithNetpoller: off. Measured on Linux
// (bench/README.md), a thread blocked in epoll_wait, after a non-blocking
// look and a runtime.Gosched, beat parking in the runtime netpoller on every
// workload: tcp-echo by 25-35%, ping-pong and goroutine hand-offs by 20-30%.
// Parking remains the choice for programs with many mostly idle loops,
// since a parked loop holds no OS thread.
func useNetpoll() bool { return false }
