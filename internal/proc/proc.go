// Package proc holds the system calls of package process: a descriptor
// that becomes readable when a child process exits (a pidfd on Linux, a
// kqueue watching EVFILT_PROC on the BSDs and macOS), and close-on-exec
// pipes. Nothing here reaps: the caller waits for the child (os.Process.Wait)
// once the descriptor says it exited.
package proc
