package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/proc"
	"github.com/calloop-go/calloop/stream"
)

// ErrStatusUnknown is wrapped by the error [Cmd.OnExit] gets for a child
// whose exit status could not be had: other code in the program reaped it.
var ErrStatusUnknown = errors.New("process: exit status unknown (the child was reaped elsewhere)")

// Cmd describes a child process to start with [Start].
type Cmd[S any] struct {
	// Path is the program to run. A name without a path separator is
	// looked up in the directories of $PATH (exec.LookPath).
	Path string
	// Args is the argument list, Args[0] included (by convention the
	// program's name); nil means []string{Path}.
	Args []string
	// Env is the environment, "KEY=value" strings; nil means this
	// process's environment.
	Env []string
	// Dir is the working directory; "" means this process's.
	Dir string

	// Stdin, when not nil, connects the child's standard input to a pipe
	// whose writing end is [Process.Stdin], a stream connection with these
	// callbacks (OnData may be nil: nothing is read from it). Write to it;
	// Close or CloseWrite it to give the child EOF. When nil, the child
	// reads StdinFile, or the null device if that is nil too.
	Stdin *stream.Handler[S]
	// Stdout and Stderr, when not nil, connect the child's standard output
	// and error to pipes whose reading ends are [Process.Stdout] and
	// [Process.Stderr], stream connections with these callbacks (OnData
	// is required). When nil, the child writes to StdoutFile / StderrFile,
	// or to the null device if that is nil too.
	Stdout, Stderr *stream.Handler[S]
	// StdinFile, StdoutFile and StderrFile give the child an open file
	// instead of a pipe (os.Stderr to share this process's, say); they are
	// used only where the matching handler is nil, and stay open.
	StdinFile, StdoutFile, StderrFile *os.File
	// Config tunes the pipe connections.
	Config stream.Config

	// OnExit is called once, on the loop, when the child has exited and
	// been reaped, with its exit status: ExitCode() (-1 when a signal
	// killed it), and Sys().(syscall.WaitStatus) for the signal; err is
	// nil then. Output the child wrote before exiting may still be
	// arriving on the Stdout and Stderr connections: their OnClose tells
	// when it has all been read. May be nil.
	//
	// When the status cannot be had, because other code in the program
	// reaped the child first (a wait for any child, such as
	// syscall.Wait4(-1, ...), or SIGCHLD set to be ignored), OnExit is
	// still called once, with a nil state and an err wrapping
	// [ErrStatusUnknown] and the system's error (syscall.ECHILD): the
	// child is gone, its exit status unknown. The loop goes on.
	OnExit func(s *S, p *Process[S], state *os.ProcessState, err error)

	// SysProcAttr holds system-specific attributes (a process group, a
	// session, credentials); see os/exec.Cmd.SysProcAttr.
	SysProcAttr *syscall.SysProcAttr
}

// Process is a child process started by [Start]. Its exit is an event of
// the loop ([Cmd.OnExit]), and its piped standard streams are stream
// connections of the same loop.
//
// Every method must be called on the loop goroutine: from a callback of the
// loop, or by the loop's owner between dispatches.
type Process[S any] struct {
	l      *calloop.Loop[S]
	proc   *os.Process
	pid    int
	onExit func(s *S, p *Process[S], state *os.ProcessState, err error)

	exitFD   int  // pidfd or kqueue; -1 once closed or in the fallback
	dropped  bool // Start failed: the child was killed, nothing is reported
	tok      calloop.Token
	reg      *calloop.Registrar
	fut      *calloop.Future[*os.ProcessState]
	state    *os.ProcessState
	waitErr  error
	removing bool

	stdin, stdout, stderr *stream.Conn[S]
}

// subExited is the sub-token of the synthetic event raised for a child
// that exited before its exit could be watched.
const subExited = 1

// beforeWatch, when set (by tests), runs between the start of a child and
// the watch of its exit; if it returns true the child is treated as
// already exited when watched.
var beforeWatch func(pid int) bool

// beforeStart, when set (by tests), runs just before the child is started.
var beforeStart func()

// afterWrap, when set (by tests), runs once the child is started and its
// exit watched (the pipes are wrapped before); an error makes Start fail
// from there.
var afterWrap func() error

// forceFallback makes Start use the fallback (a goroutine waiting for the
// child) even where an exit descriptor exists (set by tests).
var forceFallback bool

// Start starts the child process described by cmd; its exit and its piped
// standard streams are handled on loop l. It returns once the child is
// running, or an error if it could not be started (the program is not
// found or not executable, the directory does not exist, the loop is
// closed, ...): an *exec.Error wrapping exec.ErrNotFound for a name not
// found in $PATH, else an error wrapping the system's (errors.Is(err,
// fs.ErrNotExist), fs.ErrPermission, ...). Nothing is left behind by a
// failed Start: no descriptor (those of the pipe connections already made
// are closed by the loop's next iteration, as for any aborted connection),
// no process (one that had started is killed and reaped), no callback. A closed loop, and a [Cmd.Config] that stream
// refuses (an error wrapping stream.ErrConfig), are detected before the
// child is started.
//
// The child's exit is watched with a pidfd on Linux and with kqueue's
// EVFILT_PROC on macOS and the BSDs: no SIGCHLD handler is installed, and
// children started elsewhere in the process are not affected. Where
// neither exists (Linux before 5.3, or when pidfd_open is forbidden) a
// goroutine per child waits for it and hands its status to the loop with
// [calloop.Go]. The child is always reaped: [Cmd.OnExit] is called once it
// has been. Closing the loop while the child runs kills it (SIGKILL) and
// reaps it; OnExit is not called then. A child reaped behind the package's
// back (a wait for any child elsewhere in the program, or SIGCHLD set to
// be ignored) is reported by OnExit with a nil state and an error wrapping
// [ErrStatusUnknown] and ECHILD; the loop is not failed, and nothing of the
// child's is left behind.
//
// Start must be called on the loop goroutine.
func Start[S any](l *calloop.Loop[S], cmd Cmd[S]) (*Process[S], error) {
	if l == nil {
		return nil, errors.New("process: nil loop")
	}
	if cmd.Path == "" {
		return nil, errors.New("process: Cmd.Path is empty")
	}
	if (cmd.Stdout != nil && cmd.Stdout.OnData == nil) || (cmd.Stderr != nil && cmd.Stderr.OnData == nil) {
		return nil, errors.New("process: a Stdout or Stderr handler without OnData")
	}
	path := cmd.Path
	if !strings.ContainsRune(path, filepath.Separator) && !strings.ContainsRune(path, '/') {
		lp, err := exec.LookPath(path)
		if err != nil {
			return nil, err
		}
		path = lp
	}
	args := cmd.Args
	if args == nil {
		args = []string{cmd.Path}
	}

	if !supported {
		return nil, fmt.Errorf("process: %w on this system", errors.ErrUnsupported)
	}
	// The source that watches the exit exists before the child does: a
	// closed loop fails here, before anything has run.
	p := &Process[S]{l: l, onExit: cmd.OnExit, exitFD: -1}
	tok, err := l.AddSource((*exitSource[S])(p))
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	p.tok = tok
	var st stdio
	defer st.closeAll() // what is not handed over
	files, err := st.setup([3]bool{cmd.Stdin != nil, cmd.Stdout != nil, cmd.Stderr != nil},
		[3]*os.File{cmd.StdinFile, cmd.StdoutFile, cmd.StderrFile})
	if err != nil {
		p.removeSource()
		return nil, fmt.Errorf("process: %w", err)
	}
	// The connections exist before the child does too: a Config that
	// stream refuses fails here, before the program runs.
	if err := p.wrap(&st, &cmd); err != nil {
		p.removeSource()
		p.abandon()
		return nil, err
	}
	if beforeStart != nil {
		beforeStart()
	}
	child, err := os.StartProcess(path, args, &os.ProcAttr{Dir: cmd.Dir, Env: cmd.Env, Files: files, Sys: cmd.SysProcAttr})
	if err != nil {
		p.removeSource()
		p.abandon()
		return nil, fmt.Errorf("process: starting %s: %w", cmd.Path, err)
	}
	p.proc, p.pid = child, child.Pid
	st.closeChildEnds()

	err = p.watch()
	if err == nil && afterWrap != nil {
		err = afterWrap()
	}
	if err != nil {
		p.removeSource()
		p.abandon()
		return nil, err
	}
	return p, nil
}

// watch arranges for the child's exit to reach the loop.
func (p *Process[S]) watch() error {
	fd, exited, err := -1, false, error(errors.ErrUnsupported)
	if !forceFallback {
		fd, exited, err = proc.ExitFD(p.pid)
	}
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("process: watching the child: %w", err)
		}
		return p.watchFallback()
	}
	if beforeWatch != nil && beforeWatch(p.pid) {
		exited = true
	}
	p.exitFD = fd
	if exited {
		p.reg.Ready(subExited, 0)
		return nil
	}
	if err := p.reg.AddFD(fd, 0, calloop.Readable, calloop.Level); err != nil {
		p.closeExitFD()
		return fmt.Errorf("process: watching the child: %w", err)
	}
	return nil
}

// watchFallback waits for the child on a goroutine of calloop.Go; closing
// the loop cancels it, which kills the child, and the wait reaps it.
func (p *Process[S]) watchFallback() error {
	proc := p.proc
	fut, err := calloop.Go(p.l, func(ctx context.Context) (*os.ProcessState, error) {
		stop := context.AfterFunc(ctx, func() { proc.Kill() })
		defer stop()
		st, err := proc.Wait()
		if err != nil {
			proc.Release() // even if the loop is gone by now
		}
		return st, err
	}, func(s *S, st *os.ProcessState, err error) {
		p.reaped(s, st, err)
	})
	if err != nil {
		return err
	}
	p.fut = fut
	return nil
}

// wrap makes stream connections of the parent's ends of the pipes, before
// the child starts. Their OnOpen and OnClose are silenced if Start fails
// after all.
func (p *Process[S]) wrap(st *stdio, cmd *Cmd[S]) error {
	hs := [3]*stream.Handler[S]{cmd.Stdin, cmd.Stdout, cmd.Stderr}
	conns := [3]**stream.Conn[S]{&p.stdin, &p.stdout, &p.stderr}
	for i, hp := range hs {
		if hp == nil {
			continue
		}
		h := *hp
		if h.OnData == nil { // stdin: nothing is read
			h.OnData = func(*S, *stream.Conn[S], []byte) int { return 0 }
		}
		if fn := h.OnOpen; fn != nil {
			h.OnOpen = func(s *S, c *stream.Conn[S]) {
				if !p.dropped {
					fn(s, c)
				}
			}
		}
		if fn := h.OnClose; fn != nil {
			h.OnClose = func(s *S, c *stream.Conn[S], err error) {
				if !p.dropped {
					fn(s, c, err)
				}
			}
		}
		c, err := stream.Wrap(p.l, st.parent[i], cmd.Config, h)
		if err != nil {
			return fmt.Errorf("process: %s: %w", [3]string{"stdin", "stdout", "stderr"}[i], err)
		}
		*conns[i] = c
		st.parent[i] = -1
	}
	return nil
}

// abandon closes the connections of a failing Start without their
// callbacks mattering, and kills and reaps the child if it had started.
func (p *Process[S]) abandon() {
	p.dropped = true
	for _, c := range []*stream.Conn[S]{p.stdin, p.stdout, p.stderr} {
		if c != nil {
			c.Abort()
		}
	}
	if p.proc == nil {
		return // not started
	}
	p.proc.Kill()
	if p.fut == nil { // else the fallback's goroutine reaps it
		reap(p.proc)
	}
}

// Pid returns the child's process ID. Once the child has been reaped
// (after OnExit) the number may belong to another process.
func (p *Process[S]) Pid() int { return p.pid }

// Stdin returns the connection writing to the child's standard input, or
// nil if [Cmd.Stdin] was nil.
func (p *Process[S]) Stdin() *stream.Conn[S] { return p.stdin }

// Stdout returns the connection reading the child's standard output, or
// nil if [Cmd.Stdout] was nil.
func (p *Process[S]) Stdout() *stream.Conn[S] { return p.stdout }

// Stderr returns the connection reading the child's standard error, or nil
// if [Cmd.Stderr] was nil.
func (p *Process[S]) Stderr() *stream.Conn[S] { return p.stderr }

// Exited reports whether the child has exited and been reaped.
func (p *Process[S]) Exited() bool { return p.state != nil }

// State returns the child's exit status once it has exited and been
// reaped (when OnExit is called), else nil.
func (p *Process[S]) State() *os.ProcessState { return p.state }

// Signal sends sig to the child. It fails with os.ErrProcessDone once the
// child has been reaped; on Linux the signal goes through the child's
// pidfd, so it can never reach another process that reused the number.
func (p *Process[S]) Signal(sig os.Signal) error {
	if p.state != nil || p.waitErr != nil {
		return os.ErrProcessDone
	}
	return p.proc.Signal(sig)
}

// Kill sends SIGKILL to the child; see [Process.Signal].
func (p *Process[S]) Kill() error { return p.Signal(os.Kill) }

// reaped records the child's status and calls OnExit.
func (p *Process[S]) reaped(s *S, st *os.ProcessState, err error) {
	if p.state != nil || p.waitErr != nil || p.dropped {
		return
	}
	if err != nil {
		p.proc.Release() // its pidfd: Wait keeps it when it fails
		p.waitErr = fmt.Errorf("process: waiting for %d: %w: %w", p.pid, ErrStatusUnknown, err)
		if !p.removing {
			p.removeSource()
		}
		if p.onExit != nil {
			p.onExit(s, p, nil, p.waitErr)
		}
		return
	}
	p.state = st
	if !p.removing {
		p.removeSource() // the fallback: the source has no descriptor
	}
	if p.onExit != nil {
		p.onExit(s, p, st, nil)
	}
}

// removeSource removes the exit watch (of a child that exited, or that is
// being abandoned), and cancels the fallback's wait if there is one.
func (p *Process[S]) removeSource() {
	if p.fut != nil {
		p.fut.Cancel()
	}
	if !p.removing {
		p.removing = true
		p.l.Remove(p.tok)
	}
	p.closeExitFD()
}

func (p *Process[S]) closeExitFD() {
	if p.exitFD >= 0 {
		proc.Close(p.exitFD)
		p.exitFD = -1
	}
}

// reap waits for a killed child; if that fails (the child was reaped
// elsewhere) it releases the descriptor os.Process keeps.
func reap(proc *os.Process) {
	if _, err := proc.Wait(); err != nil {
		proc.Release()
	}
}

// exitSource is a Process as the loop sees it: it watches the exit
// descriptor.
type exitSource[S any] Process[S]

func (es *exitSource[S]) Register(r *calloop.Registrar) error {
	p := (*Process[S])(es)
	p.reg = r
	return nil // the exit descriptor is added once the child runs
}

// Unregister is called when the source is removed: by the package (the
// child exited, or Start failed), or by the loop's Close, which kills and
// reaps a running child (the fallback's goroutine does that itself, when
// the loop cancels it).
func (es *exitSource[S]) Unregister(r *calloop.Registrar) error {
	p := (*Process[S])(es)
	if p.exitFD >= 0 {
		r.DeleteFD(p.exitFD)
	}
	p.closeExitFD()
	if !p.removing {
		p.removing = true
		if p.proc != nil && p.fut == nil && p.state == nil && p.waitErr == nil {
			p.proc.Kill()
			reap(p.proc)
		}
	}
	return nil
}

func (es *exitSource[S]) Process(s *S, sub uint16, ev calloop.Events) (calloop.Action, error) {
	p := (*Process[S])(es)
	if p.removing || p.proc == nil {
		return calloop.Continue, nil
	}
	p.removing = true
	if p.exitFD >= 0 {
		p.reg.DeleteFD(p.exitFD)
	}
	p.closeExitFD()
	st, err := p.proc.Wait() // the child has exited: this does not block
	p.reaped(s, st, err)
	return calloop.Remove, nil
}
