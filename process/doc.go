// Package process runs child processes on a [calloop.Loop]: the child's
// exit is an event of the loop, and its standard input, output and error
// are [stream] connections of the same loop, with their buffering,
// backpressure and callbacks that get the loop's shared state *S.
//
//	p, err := process.Start(l, process.Cmd[App]{
//		Path: "grep", Args: []string{"grep", "error"},
//		Stdin: &stream.Handler[App]{},
//		Stdout: &stream.Handler[App]{
//			OnData: func(a *App, c *stream.Conn[App], in []byte) int {
//				a.matches = append(a.matches, in...)
//				return len(in)
//			},
//		},
//		OnExit: func(a *App, p *process.Process[App], st *os.ProcessState, err error) {
//			if err != nil { // reaped by other code: status unknown
//				a.code = -1
//				return
//			}
//			a.code = st.ExitCode()
//		},
//	})
//	p.Stdin().Write(logs)
//	p.Stdin().Close() // EOF for grep
//
// # Exit
//
// On Linux the child's exit is watched through a pidfd (pidfd_open), on
// macOS and the BSDs through a kqueue watching EVFILT_PROC: both are
// descriptors of the loop, so no SIGCHLD handler is installed and no
// goroutine waits. Where neither exists (Linux before 5.3), a goroutine per
// child waits for it and hands its status to the loop ([calloop.Go]). In
// every case the child is reaped before [Cmd.OnExit] is called with its
// status: no zombie is left. A child that other code in the program reaped
// first (a wait for any child) gets its OnExit too, with an error wrapping
// [ErrStatusUnknown] instead of a status. [Process.Signal] and [Process.Kill] signal
// it (through the pidfd on Linux, so never another process that reused the
// number).
//
// The exit and the end of the output are separate events: output the child
// wrote before exiting may arrive after OnExit, and a grandchild that keeps
// the pipes open keeps the connections open after the child exits. The
// connections' OnClose says when the output is complete.
//
// # Standard streams
//
// A stream given a handler in [Cmd] becomes a pipe whose end in this
// process is wrapped with [stream.Wrap]: [Process.Stdin] writes to the
// child (Close or CloseWrite gives it EOF; a child that does not read
// makes the output buffer grow until [stream.Config.HighWater] and
// [stream.Handler.OnDrain] say when to write more), [Process.Stdout] and
// [Process.Stderr] read from it. A stream without a handler gets a file of
// [Cmd] or the null device. The child's ends of the pipes are blocking, as
// programs expect; only this process's ends are non-blocking.
//
// # Goroutines and closing
//
// Everything in this package is for the loop goroutine: Start and every
// method of [Process] must be called on it, from a callback or by the
// loop's owner between dispatches. Closing the loop while a child runs
// kills the child (SIGKILL) and reaps it, without OnExit, and closes the
// pipe connections.
//
// # Platforms
//
// Linux and the kqueue systems (macOS, FreeBSD, DragonFly BSD, NetBSD,
// OpenBSD) are supported; elsewhere Start fails with an error wrapping
// errors.ErrUnsupported.
package process
