//go:build linux

package calloop_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/poller"
)

// The model-based stress test: random sequences of add, remove, disable,
// enable and re-arm operations on fd (socketpair), timer, ping, channel and
// idle sources, performed from outside the loop between dispatches and from
// inside every kind of callback, checked against a model of which callbacks
// may run and which must run.
//
// What the model asserts, at every callback:
//   - the source is registered and enabled (a removed or disabled source
//     never runs), and was not added in this iteration (except idles added
//     by a non-idle callback, which run in this iteration's idle phase);
//   - an fd runs at most once per Dispatch, with exactly its interest as
//     readiness when nothing touched it; OneShot and Edge fds at most once
//     per arming;
//   - a timer fires at most once per arming, never before its deadline, with
//     the deadline it was set for, and never in the iteration that armed it;
//   - a ping runs at most once per Dispatch and never more often than it was
//     pinged;
//   - channel messages arrive exactly once, in order, at most 1024 per
//     Dispatch; the closed event comes after the last message;
//   - an idle runs once, in the iteration it was due.
//
// and after every Dispatch, for the sources no operation touched during it:
// an enabled level fd ran exactly once, an armed OneShot/Edge fd once, a
// timer due before the Dispatch began fired, a ping pinged before it ran,
// a channel delivered some of its pending messages (and its closed event
// when everything was delivered), every idle due ran. At the end everything is
// enabled and drained: every message sent to a live channel was delivered,
// every armed timer fired. Operations on removed sources fail with
// ErrInvalidToken, sends to removed channels with ErrClosed.

type relKind uint8

const (
	relFD relKind = iota
	relTimer
	relPing
	relChan
	relIdle
	relKinds
)

func (k relKind) String() string {
	return [...]string{"fd", "timer", "ping", "chan", "idle"}[k]
}

// relSrc is the model of one source.
type relSrc struct {
	id      int
	kind    relKind
	tok     calloop.Token
	alive   bool
	enabled bool
	addedD  int // the dispatch during which it was added (0: outside)
	touched bool
	runD    int // the dispatch of the last run
	runs    int // runs in dispatch runD
	total   int

	// fd
	a, b     int
	mode     calloop.Mode
	interest calloop.Events
	armed    bool // OneShot/Edge: the kernel registration is armed
	budget   int  // OneShot/Edge: armings not yet consumed by a run

	// timer
	lo, hi time.Time // bounds of the deadline
	fired  bool      // fired since last armed
	armD   int       // the dispatch during which it was last armed (0: outside)

	// ping
	ping     *calloop.Ping
	pings    int // Ping calls
	unseen   bool
	pingRuns int

	// channel
	tx       *calloop.Sender[int]
	sent     int
	recv     int
	closedTx bool
	gotClose bool
	startRec int // recv at the start of the dispatch

	// idle
	dueD int // the dispatch it must run in
}

// relRand is where the operations' choices come from: a seeded generator,
// or a fuzzer's bytes.
type relRand interface {
	Intn(n int) int
	Done() bool
}

type relSeeded struct{ r *rand.Rand }

func (s relSeeded) Intn(n int) int { return s.r.IntN(n) }
func (s relSeeded) Done() bool     { return false }

type relBytes struct {
	b   []byte
	off int
}

func (s *relBytes) Intn(n int) int {
	if s.off >= len(s.b) {
		s.off++
		return 0
	}
	v := int(s.b[s.off])
	s.off++
	return v % n
}
func (s *relBytes) Done() bool { return s.off >= len(s.b) }

// relModel is the loop's state: the model itself.
type relModel struct {
	l       *calloop.Loop[relModel]
	r       relRand
	srcs    []*relSrc
	nextID  int
	d       int  // the dispatch in progress (or the last one, between dispatches)
	inD     bool // a Dispatch is in progress
	inIdle  bool // an idle callback is running
	dStart  time.Time
	log     []string
	failure string
	depth   int
	drain   bool // the final drain: callbacks do nothing more
	// faults, when set, makes control calls and waits fail at random (see
	// TestStressModelFaults).
	faults *relFaults
	// panics: callbacks panic at random (TestStressModelPanics).
	panics     bool
	panicked   bool // the Dispatch in progress panicked
	afterPanic int  // the Dispatch after one that panicked
	streak     int  // consecutive Dispatches that panicked, up to afterPanic-1
	cbCount    int  // callbacks in this Dispatch
	panicAt    int  // the callback of this Dispatch that panics, or -1
}

// relPanic is what callbacks panic with.
type relPanic struct{}

// maybePanic, with panics on, panics at random in a callback of s after
// the model recorded the call. The loop's promise: the call counts as
// made, its source stays as it was (a timer is removed), the events,
// timers and idles the iteration did not reach are kept for the next.
func (m *relModel) maybePanic(s *relSrc) {
	if !m.panics || m.drain || m.depth > 0 {
		return
	}
	m.cbCount++
	if m.cbCount-1 != m.panicAt {
		return
	}
	m.logf("%s %d panics", s.kind, s.id)
	if s.kind == relTimer {
		s.alive = false
	}
	m.panicked = true
	panic(relPanic{})
}

// maxRuns is how often an fd may run in this Dispatch: after a panic also
// once for each event kept from the panicking iterations (a Dispatch that
// panics before reaching the events kept from the previous one keeps them
// again, besides its own kernel batch).
func (m *relModel) maxRuns() int {
	if m.d == m.afterPanic {
		return 1 + m.streak
	}
	return 1
}

var relStressCtlErrnos = []syscall.Errno{unix.ENOMEM, unix.ENOSPC, unix.EBADF, unix.EPERM}

// ctlFault, with faults on, decides at random to make the control call the
// coming operation certainly makes fail, and returns the errno (or 0).
// Deregistrations (Disable, Remove) take EBADF as "the caller closed the
// fd", which is not an error: they get the other errnos only.
func (m *relModel) ctlFault(deregister bool) syscall.Errno {
	if m.faults == nil || m.drain || m.r.Intn(4) != 0 {
		return 0
	}
	errnos := relStressCtlErrnos
	if deregister {
		errnos = []syscall.Errno{unix.ENOMEM, unix.ENOSPC, unix.EPERM}
	}
	e := errnos[m.r.Intn(len(errnos))]
	m.faults.inject(poller.OpCtl, e)
	return e
}

// faulted checks the result of an operation whose control call was made to
// fail with e: the error comes back and the fault was consumed.
func (m *relModel) faulted(what string, e syscall.Errno, err error) {
	if !errors.Is(err, e) {
		m.failf("%s with a failing control call (%v): %v", what, e, err)
	}
	m.faults.mu.Lock()
	left := len(m.faults.queue[poller.OpCtl])
	m.faults.queue[poller.OpCtl] = nil
	m.faults.mu.Unlock()
	if left > 0 {
		m.failf("%s made no control call", what)
	}
}

func (m *relModel) logf(format string, args ...any) {
	s := fmt.Sprintf("D%d%s: ", m.d, map[bool]string{true: "*", false: ""}[m.inD]) + fmt.Sprintf(format, args...)
	if len(m.log) >= 40 {
		copy(m.log, m.log[1:])
		m.log = m.log[:len(m.log)-1]
	}
	m.log = append(m.log, s)
}

func (m *relModel) failf(format string, args ...any) {
	if m.failure == "" {
		m.failure = fmt.Sprintf("D%d: ", m.d) + fmt.Sprintf(format, args...) +
			"\nlast operations:\n  " + strings.Join(m.log, "\n  ")
	}
}

func (m *relModel) count(k relKind, live bool) int {
	n := 0
	for _, s := range m.srcs {
		if s.kind == k && (s.alive || !live) {
			n++
		}
	}
	return n
}

// pick returns a random source of kind k (any kind if k == relKinds), live
// or dead, or nil.
func (m *relModel) pick(k relKind) *relSrc {
	var c []*relSrc
	for _, s := range m.srcs {
		if k == relKinds || s.kind == k {
			c = append(c, s)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[m.r.Intn(len(c))]
}

func (m *relModel) touch(s *relSrc) {
	if m.inD {
		s.touched = true
	}
}

// ran records a callback of s and checks the rules common to every kind.
func (m *relModel) ran(s *relSrc) {
	if !s.alive {
		m.failf("%s %d ran after it was removed", s.kind, s.id)
	}
	if !s.enabled {
		m.failf("%s %d ran while disabled", s.kind, s.id)
	}
	if s.addedD == m.d && s.kind != relIdle {
		m.failf("%s %d ran in the iteration that added it", s.kind, s.id)
	}
	if s.runD != m.d {
		s.runD, s.runs = m.d, 0
	}
	s.runs++
	s.total++
}

// armDeadline records that timer s was armed now to fire d later.
func (m *relModel) armDeadline(s *relSrc, lo time.Time, d time.Duration) {
	s.lo, s.hi = lo.Add(d), time.Now().Add(d)
	s.fired = false
	s.armD = m.curD()
}

// curD is the dispatch in progress, or 0 between dispatches.
func (m *relModel) curD() int {
	if m.inD {
		return m.d
	}
	return 0
}

var relDurations = []time.Duration{0, 0, 100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 3 * time.Millisecond}

// callbacks performs a few random operations from inside a callback.
func (m *relModel) callbackOps() {
	if m.depth > 0 || m.drain {
		return
	}
	m.depth++
	defer func() { m.depth-- }()
	for n := m.r.Intn(4); n > 1; n-- {
		m.op()
	}
}

func (m *relModel) fdCallback(s *relSrc) func(*relModel, calloop.Events) calloop.Action {
	return func(_ *relModel, ev calloop.Events) calloop.Action {
		m.ran(s)
		if s.runs > m.maxRuns() {
			m.failf("fd %d ran %d times in one Dispatch", s.id, s.runs)
		}
		if s.mode != calloop.Level {
			// Events kept from a panicking iteration may predate a
			// re-arming: not counted against the budget.
			if s.budget == 0 && m.d != m.afterPanic {
				m.failf("%v fd %d ran again without being re-armed", s.mode, s.id)
			}
			if s.budget > 0 {
				s.budget--
			}
			s.armed = false
		}
		if !s.touched && ev != s.interest && m.d != m.afterPanic {
			m.failf("fd %d with interest %v reported %v", s.id, s.interest, ev)
		}
		m.logf("fd %d runs (%v)", s.id, ev)
		m.maybePanic(s)
		m.callbackOps()
		if !s.alive || !s.enabled {
			return calloop.Continue
		}
		switch m.r.Intn(12) {
		case 0:
			m.logf("fd %d returns Disable", s.id)
			m.touch(s)
			s.enabled, s.armed = false, false
			return calloop.Disable
		case 1:
			m.logf("fd %d returns Remove", s.id)
			m.touch(s)
			s.alive = false
			m.closeFDs(s)
			return calloop.Remove
		}
		return calloop.Continue
	}
}

func (m *relModel) closeFDs(s *relSrc) {
	// Closing inside the callback that removes the source (before the
	// loop applies Remove) is allowed by AddFD's contract; the number
	// may be reused at once by the next socketpair.
	unix.Close(s.a)
	unix.Close(s.b)
	s.a, s.b = -1, -1
}

func (m *relModel) timerCallback(s *relSrc) func(*relModel, time.Time) calloop.TimerAction {
	return func(_ *relModel, deadline time.Time) calloop.TimerAction {
		now := time.Now()
		m.ran(s)
		if s.fired {
			m.failf("timer %d fired twice for one arming", s.id)
		}
		if s.armD == m.d {
			m.failf("timer %d fired in the iteration that armed it", s.id)
		}
		if now.Before(s.lo) {
			m.failf("timer %d fired %v early", s.id, s.lo.Sub(now))
		}
		if deadline.Before(s.lo) || deadline.After(s.hi) {
			m.failf("timer %d got deadline %v outside [%v, %v] (relative to now)", s.id, deadline.Sub(now), s.lo.Sub(now), s.hi.Sub(now))
		}
		s.fired = true
		m.logf("timer %d fires", s.id)
		m.maybePanic(s)
		m.callbackOps()
		if !s.alive {
			return calloop.Drop()
		}
		if m.drain || m.r.Intn(3) == 0 {
			m.logf("timer %d returns Drop", s.id)
			s.alive = false
			return calloop.Drop()
		}
		d := relDurations[m.r.Intn(len(relDurations))]
		m.logf("timer %d returns Again(%v)", s.id, d)
		m.armDeadline(s, m.dStart, d)
		return calloop.Again(d)
	}
}

func (m *relModel) pingCallback(s *relSrc) func(*relModel) {
	return func(*relModel) {
		m.ran(s)
		if s.runs > 1 {
			m.failf("ping %d ran %d times in one Dispatch", s.id, s.runs)
		}
		s.pingRuns++
		if s.pingRuns > s.pings {
			m.failf("ping %d ran %d times for %d pings", s.id, s.pingRuns, s.pings)
		}
		s.unseen = false
		m.logf("ping %d runs", s.id)
		m.maybePanic(s)
		m.callbackOps()
	}
}

func (m *relModel) chanCallback(s *relSrc) func(*relModel, int, bool) {
	return func(_ *relModel, msg int, ok bool) {
		if !ok {
			if !s.alive || !s.enabled {
				m.failf("chan %d: closed event while removed or disabled", s.id)
			}
			if !s.closedTx || s.recv != s.sent || s.gotClose {
				m.failf("chan %d: closed event with closed=%v recv=%d sent=%d before=%v", s.id, s.closedTx, s.recv, s.sent, s.gotClose)
			}
			s.gotClose, s.alive = true, false
			m.logf("chan %d closed event", s.id)
			return
		}
		if !s.alive {
			m.failf("chan %d delivered message %d after it was removed", s.id, msg)
		}
		if !s.enabled {
			m.failf("chan %d delivered message %d while disabled", s.id, msg)
		}
		if s.addedD == m.d {
			m.failf("chan %d ran in the iteration that added it", s.id)
		}
		if msg != s.recv || msg >= s.sent {
			m.failf("chan %d delivered message %d, want %d (sent %d)", s.id, msg, s.recv, s.sent)
		}
		s.recv++
		if s.recv-s.startRec > 1024 {
			m.failf("chan %d delivered more than 1024 messages in one Dispatch", s.id)
		}
		m.maybePanic(s)
		if m.r.Intn(64) == 0 {
			m.logf("chan %d message %d", s.id, msg)
			m.callbackOps()
		}
	}
}

func (m *relModel) idleCallback(s *relSrc) func(*relModel) {
	return func(*relModel) {
		m.ran(s)
		if s.dueD != m.d {
			m.failf("idle %d ran in dispatch %d, due in %d", s.id, m.d, s.dueD)
		}
		s.alive = false // its token is spent
		m.logf("idle %d runs", s.id)
		m.maybePanic(s)
		m.inIdle = true
		m.callbackOps()
		m.inIdle = false
	}
}

func (m *relModel) newSrc(k relKind) *relSrc {
	m.nextID++
	s := &relSrc{id: m.nextID, kind: k, alive: true, enabled: true, addedD: m.curD(), touched: m.inD, a: -1, b: -1}
	return s
}

// prune forgets dead sources beyond a few kept for stale-token checks.
func (m *relModel) prune() {
	dead := 0
	keep := m.srcs[:0]
	for _, s := range m.srcs {
		if !s.alive {
			dead++
			if dead > 12 && s.a < 0 {
				continue
			}
		}
		keep = append(keep, s)
	}
	clear(m.srcs[len(keep):])
	m.srcs = keep
}

func (m *relModel) add(k relKind) {
	l := m.l
	s := m.newSrc(k)
	var err error
	switch k {
	case relFD:
		if m.count(relFD, true) >= 12 {
			return
		}
		fds, serr := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if serr != nil {
			m.failf("socketpair: %v", serr)
			return
		}
		s.a, s.b = fds[0], fds[1]
		unix.Write(s.b, []byte{1}) // s.a stays readable: nobody reads it
		s.mode = []calloop.Mode{calloop.Level, calloop.Level, calloop.OneShot, calloop.Edge}[m.r.Intn(4)]
		s.interest = []calloop.Events{calloop.Readable, calloop.Writable, calloop.Readable | calloop.Writable}[m.r.Intn(3)]
		s.armed, s.budget = true, 1
		e := m.ctlFault(false)
		s.tok, err = l.AddFD(s.a, s.interest, s.mode, m.fdCallback(s))
		m.logf("add fd %d (fd %d, %v, %v): %v", s.id, s.a, s.interest, s.mode, err)
		if e != 0 {
			m.faulted("AddFD", e, err)
			if !s.tok.IsZero() {
				m.failf("failed AddFD returned token %v", s.tok)
			}
			m.closeFDs(s)
			return
		}
	case relTimer:
		if m.count(relTimer, true) >= 24 {
			return
		}
		d := relDurations[m.r.Intn(len(relDurations))]
		lo := time.Now()
		s.tok, err = l.AddTimer(d, m.timerCallback(s))
		m.armDeadline(s, lo, d)
		m.logf("add timer %d (%v): %v", s.id, d, err)
	case relPing:
		if m.count(relPing, true) >= 8 {
			return
		}
		s.ping, err = calloop.NewPing(l, m.pingCallback(s))
		if err == nil {
			s.tok = s.ping.Token()
		}
		m.logf("add ping %d: %v", s.id, err)
	case relChan:
		if m.count(relChan, true) >= 8 {
			return
		}
		s.tx, err = calloop.NewChannel(l, m.chanCallback(s))
		if err == nil {
			s.tok = s.tx.Token()
		}
		m.logf("add chan %d: %v", s.id, err)
	case relIdle:
		if m.count(relIdle, true) >= 16 {
			return
		}
		s.dueD = m.d + 1
		if m.inD && !m.inIdle {
			s.dueD = m.d
		}
		s.tok, err = l.AddIdle(m.idleCallback(s))
		m.logf("add idle %d (due D%d): %v", s.id, s.dueD, err)
	}
	if err != nil {
		m.failf("adding %s: %v", k, err)
		if s.a >= 0 {
			m.closeFDs(s)
		}
		return
	}
	m.srcs = append(m.srcs, s)
}

// op performs one random operation.
func (m *relModel) op() {
	l := m.l
	switch m.r.Intn(16) {
	case 0, 1, 2:
		m.add(relKind(m.r.Intn(int(relKinds))))
	case 3: // remove
		s := m.pick(relKinds)
		if s == nil {
			return
		}
		var e syscall.Errno
		if s.kind == relFD && s.alive {
			e = m.ctlFault(true)
		}
		err := l.Remove(s.tok)
		m.logf("remove %s %d: %v", s.kind, s.id, err)
		m.touch(s)
		if e != 0 {
			m.faulted("Remove", e, err) // the source stays
			return
		}
		if !s.alive {
			if !errors.Is(err, calloop.ErrInvalidToken) {
				m.failf("Remove of dead %s %d: %v, want ErrInvalidToken", s.kind, s.id, err)
			}
			return
		}
		if err != nil {
			m.failf("Remove %s %d: %v", s.kind, s.id, err)
		}
		s.alive = false
		if s.kind == relFD {
			m.closeFDs(s)
		}
	case 4, 5: // disable
		s := m.pick(relKinds)
		if s == nil {
			return
		}
		var e syscall.Errno
		if s.kind == relFD && s.alive && s.enabled {
			e = m.ctlFault(true)
		}
		err := l.Disable(s.tok)
		m.logf("disable %s %d: %v", s.kind, s.id, err)
		if e != 0 {
			m.touch(s)
			m.faulted("Disable", e, err) // still enabled
			return
		}
		m.toggled(s, err, false)
	case 6, 7: // enable
		s := m.pick(relKinds)
		if s == nil {
			return
		}
		var e syscall.Errno
		if s.kind == relFD && s.alive && (!s.enabled || s.mode == calloop.OneShot) {
			e = m.ctlFault(false)
		}
		err := l.Enable(s.tok)
		m.logf("enable %s %d: %v", s.kind, s.id, err)
		if e != 0 {
			m.touch(s)
			m.faulted("Enable", e, err) // unchanged
			return
		}
		m.toggled(s, err, true)
	case 8: // modify an fd
		s := m.pick(relFD)
		if s == nil {
			return
		}
		mode := []calloop.Mode{calloop.Level, calloop.OneShot, calloop.Edge}[m.r.Intn(3)]
		interest := []calloop.Events{calloop.Readable, calloop.Writable, calloop.Readable | calloop.Writable}[m.r.Intn(3)]
		var e syscall.Errno
		if s.alive && s.enabled {
			e = m.ctlFault(false)
		}
		err := l.ModifyFD(s.tok, interest, mode)
		m.logf("modify fd %d (%v, %v): %v", s.id, interest, mode, err)
		m.touch(s)
		if e != 0 {
			m.faulted("ModifyFD", e, err) // the old interest and mode stay
			return
		}
		if !s.alive {
			if !errors.Is(err, calloop.ErrInvalidToken) {
				m.failf("ModifyFD of dead fd %d: %v, want ErrInvalidToken", s.id, err)
			}
			return
		}
		if err != nil {
			m.failf("ModifyFD fd %d: %v", s.id, err)
			return
		}
		s.interest, s.mode = interest, mode
		if s.enabled {
			s.armed = true
			s.budget++
		}
	case 9: // reset a timer
		s := m.pick(relTimer)
		if s == nil {
			return
		}
		d := relDurations[m.r.Intn(len(relDurations))]
		lo := time.Now()
		err := l.ResetTimer(s.tok, d)
		m.logf("reset timer %d (%v): %v", s.id, d, err)
		m.touch(s)
		if !s.alive {
			if !errors.Is(err, calloop.ErrInvalidToken) {
				m.failf("ResetTimer of dead timer %d: %v, want ErrInvalidToken", s.id, err)
			}
			return
		}
		if err != nil {
			m.failf("ResetTimer %d: %v", s.id, err)
		}
		m.armDeadline(s, lo, d)
	case 10, 11: // ping
		s := m.pick(relPing)
		if s == nil {
			return
		}
		s.ping.Ping()
		m.logf("ping %d", s.id)
		m.touch(s)
		if s.alive {
			s.pings++
			s.unseen = true
		}
	case 12, 13: // send
		s := m.pick(relChan)
		if s == nil {
			return
		}
		n := 1 + m.r.Intn(40)
		if m.r.Intn(8) == 0 {
			n = 1100 // more than one batch
		}
		m.touch(s)
		for i := 0; i < n; i++ {
			err := s.tx.Send(s.sent)
			if !s.alive || s.closedTx {
				if !errors.Is(err, calloop.ErrClosed) {
					m.failf("Send on removed or closed chan %d: %v, want ErrClosed", s.id, err)
				}
				break
			}
			if err != nil {
				m.failf("Send chan %d: %v", s.id, err)
				break
			}
			s.sent++
		}
		m.logf("send %d to chan %d (sent %d)", n, s.id, s.sent)
	case 14: // close a sender
		s := m.pick(relChan)
		if s == nil || m.r.Intn(3) != 0 {
			return
		}
		err := s.tx.Close()
		m.logf("close chan %d: %v", s.id, err)
		m.touch(s)
		if err != nil {
			m.failf("Sender.Close chan %d: %v", s.id, err)
		}
		s.closedTx = true
	case 15: // a Dispatch from inside a callback is refused
		if m.inD {
			if err := l.Dispatch(0, nil); !errors.Is(err, calloop.ErrDispatching) {
				m.failf("nested Dispatch: %v, want ErrDispatching", err)
			}
		}
	}
}

// toggled updates the model after a Disable (on false) or Enable (on true).
func (m *relModel) toggled(s *relSrc, err error, on bool) {
	m.touch(s)
	if !s.alive {
		if !errors.Is(err, calloop.ErrInvalidToken) {
			m.failf("Disable/Enable of dead %s %d: %v, want ErrInvalidToken", s.kind, s.id, err)
		}
		return
	}
	if s.kind == relIdle {
		if err == nil {
			m.failf("Disable/Enable of idle %d succeeded", s.id)
		}
		return
	}
	if err != nil {
		m.failf("Disable/Enable %s %d: %v", s.kind, s.id, err)
		return
	}
	if s.kind == relFD {
		if on && (!s.enabled || s.mode == calloop.OneShot) {
			s.armed = true
			s.budget++
		}
		if !on {
			s.armed = false
		}
	}
	s.enabled = on
}

// dispatch runs one Dispatch and checks the sources nothing touched.
func (m *relModel) dispatch(timeout time.Duration) {
	m.d++
	type before struct {
		s                  *relSrc
		enabled, armed     bool
		unseen             bool
		pending            int
		closeDue, timerDue bool
	}
	m.dStart = time.Now()
	var snap []before
	for _, s := range m.srcs {
		s.touched = false
		s.startRec = s.recv
		if s.alive {
			snap = append(snap, before{s: s, enabled: s.enabled, armed: s.armed, unseen: s.unseen,
				pending:  s.sent - s.recv,
				closeDue: s.closedTx && s.sent == s.recv,
				timerDue: !s.fired && s.hi.Before(m.dStart)})
		}
	}
	var waitErr syscall.Errno
	if m.faults != nil && !m.drain && m.r.Intn(6) == 0 {
		waitErr = []syscall.Errno{unix.EINTR, unix.EINTR, unix.ENOMEM, unix.EBADF, unix.EAGAIN}[m.r.Intn(5)]
		m.faults.inject(poller.OpWait, waitErr)
		m.logf("wait fails with %v", waitErr)
	}
	m.inD = true
	start := time.Now()
	m.panicked = false
	m.cbCount, m.panicAt = 0, -1
	if m.panics && m.r.Intn(4) == 0 {
		m.panicAt = m.r.Intn(12)
	}
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(relPanic); !ok {
					panic(v)
				}
				if !m.panicked {
					m.failf("Dispatch panicked with no callback panicking")
				}
				err = nil
			} else if m.panicked {
				m.failf("a callback panicked and Dispatch returned")
			}
		}()
		return m.l.Dispatch(timeout, m)
	}()
	m.inD = false
	m.inIdle = false
	m.depth = 0
	if m.d == m.afterPanic && !m.panicked {
		// The kept events are all dispatched now; a OneShot or Edge fd's
		// kernel registration may still hold a real arming whose budget a
		// kept event used.
		for _, s := range m.srcs {
			if s.kind == relFD && s.mode != calloop.Level && s.alive && s.enabled && s.budget == 0 {
				s.budget = 1
			}
		}
	}
	if m.panicked {
		// Nothing more is promised for this iteration: what it did not
		// reach comes in the next one.
		if m.afterPanic == m.d {
			m.streak++
		} else {
			m.streak = 1
		}
		m.afterPanic = m.d + 1
		for _, s := range m.srcs {
			if s.kind == relIdle && s.alive && s.dueD == m.d {
				s.dueD++
			}
		}
		return
	}
	if waitErr != 0 && waitErr != unix.EINTR {
		// The iteration stopped at its poll: nothing ran, and the idles
		// due now are due in the next one.
		if !errors.Is(err, waitErr) {
			m.failf("Dispatch with a failing wait (%v): %v", waitErr, err)
		}
		for _, s := range m.srcs {
			if s.runD == m.d && s.runs > 0 {
				m.failf("%s %d ran in a Dispatch whose wait failed", s.kind, s.id)
			}
			if s.kind == relIdle && s.alive && s.dueD == m.d {
				s.dueD++
			}
		}
		return
	}
	if err != nil {
		m.failf("Dispatch: %v", err)
	}
	if timeout >= time.Second && time.Since(start) > timeout/2 {
		m.failf("Dispatch(%v) with work ready took %v", timeout, time.Since(start))
	}
	for _, b := range snap {
		s := b.s
		if s.touched || !b.enabled || m.d == m.afterPanic {
			continue
		}
		runs := 0
		if s.runD == m.d {
			runs = s.runs
		}
		switch s.kind {
		case relFD:
			if (s.mode == calloop.Level || b.armed) && runs != 1 {
				m.failf("enabled %v fd %d (armed %v) ran %d times in a Dispatch", s.mode, s.id, b.armed, runs)
			}
		case relTimer:
			if b.timerDue && runs != 1 {
				m.failf("timer %d due %v before the Dispatch did not fire", s.id, m.dStart.Sub(s.hi))
			}
		case relPing:
			if b.unseen && runs != 1 {
				m.failf("ping %d pinged before the Dispatch ran %d times", s.id, runs)
			}
		case relChan:
			// Progress: a batch left over by the budget is finished
			// before newer messages are taken, so not necessarily all.
			if got := s.recv - s.startRec; b.pending > 0 && got == 0 {
				m.failf("chan %d delivered none of %d pending messages", s.id, b.pending)
			}
			if b.closeDue && !s.gotClose {
				m.failf("chan %d: no closed event after its last message", s.id)
			}
		case relIdle:
			if s.dueD == m.d && runs != 1 {
				m.failf("idle %d due in this Dispatch ran %d times", s.id, runs)
			}
		}
	}
	// Idles queued by an idle callback of this dispatch were already due in
	// the next; those that were due now and did not run are lost.
	for _, s := range m.srcs {
		if s.kind == relIdle && s.alive && s.dueD <= m.d {
			m.failf("idle %d due in D%d did not run", s.id, s.dueD)
		}
	}
}

// readyNow reports whether the model knows of work the loop must find
// without waiting: an enabled level fd, a pinged ping, a due idle.
func (m *relModel) readyNow() bool {
	for _, s := range m.srcs {
		if !s.alive || !s.enabled {
			continue
		}
		switch s.kind {
		case relFD:
			if s.mode == calloop.Level || s.armed {
				return true
			}
		case relPing:
			if s.unseen {
				return true
			}
		case relIdle:
			return true
		}
	}
	return false
}

// relRun runs one model test: steps of outside operations and a Dispatch,
// then enables and drains everything and checks that nothing was lost.
func relRun(tb testing.TB, r relRand, steps int, opts ...calloop.Option) string {
	return relRunWith(tb, r, steps, nil, opts...)
}

func relRunWith(tb testing.TB, r relRand, steps int, faults *relFaults, opts ...calloop.Option) string {
	return relRunModel(tb, r, steps, faults, false, opts...)
}

func relRunModel(tb testing.TB, r relRand, steps int, faults *relFaults, panics bool, opts ...calloop.Option) string {
	l, err := calloop.New[relModel](opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	m := &relModel{l: l, r: r, faults: faults, panics: panics}
	defer func() {
		l.Close()
		for _, s := range m.srcs {
			if s.a >= 0 {
				m.closeFDs(s)
			}
		}
	}()
	for i := 0; i < steps && m.failure == "" && !r.Done(); i++ {
		for n := r.Intn(4); n > 0; n-- {
			m.op()
		}
		timeout := []time.Duration{0, 0, 0, 200 * time.Microsecond, time.Millisecond}[r.Intn(5)]
		if m.readyNow() && r.Intn(3) == 0 {
			timeout = 5 * time.Second // must return at once
		}
		m.dispatch(timeout)
		m.prune()
	}
	if m.failure != "" {
		return m.failure
	}
	// Drain: enable everything, then dispatch until every timer fired,
	// every ping ran and every message was delivered.
	m.drain = true
	if faults != nil {
		faults.clear()
	}
	for _, s := range m.srcs {
		if s.alive && !s.enabled && s.kind != relIdle {
			err := l.Enable(s.tok)
			m.logf("drain: enable %s %d: %v", s.kind, s.id, err)
			m.toggled(s, err, true)
		}
	}
	deadline := time.Now().Add(watchdogTimeout)
	for m.failure == "" {
		busy := false
		for _, s := range m.srcs {
			if !s.alive {
				continue
			}
			switch s.kind {
			case relTimer:
				busy = busy || !s.fired
			case relPing:
				busy = busy || s.unseen
			case relChan:
				busy = busy || s.recv < s.sent || s.closedTx && !s.gotClose
			case relIdle:
				busy = true
			}
		}
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			var what []string
			for _, s := range m.srcs {
				if s.alive {
					what = append(what, fmt.Sprintf("%s %d (fired %v unseen %v recv %d/%d)", s.kind, s.id, s.fired, s.unseen, s.recv, s.sent))
				}
			}
			m.failf("drain: not done after %v: %s", watchdogTimeout, strings.Join(what, ", "))
			break
		}
		// Level fds make a busy loop here; the dispatch must still serve
		// everything else.
		m.dispatch(2 * time.Millisecond)
	}
	// Closing the loop fails every sender and silences every ping.
	l.Close()
	for _, s := range m.srcs {
		switch s.kind {
		case relChan:
			if err := s.tx.Send(0); !errors.Is(err, calloop.ErrClosed) {
				m.failf("Send after Close: %v, want ErrClosed", err)
			}
		case relPing:
			s.ping.Ping()
		}
	}
	return m.failure
}

// relStressSeed returns the seed to reproduce, from RELSTRESS_SEED, or 0.
func relStressSeed(t *testing.T) uint64 {
	if v := os.Getenv("RELSTRESS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RELSTRESS_SEED: %v", err)
		}
		return n
	}
	return 0
}

// TestStressModel runs seeded random operation sequences for about two
// seconds (one seed with RELSTRESS_SEED=n), alternating the sleep modes.
func TestStressModel(t *testing.T) {
	budget := 2 * time.Second
	if testing.Short() {
		budget = 300 * time.Millisecond
	}
	seeds := []uint64{}
	if s := relStressSeed(t); s != 0 {
		seeds = append(seeds, s)
		budget = 0
	}
	// Descriptors: a loop in each mode first, for whatever the runtime
	// opens on first use; then no run may leave one behind.
	for _, on := range []bool{true, false} {
		l, err := calloop.New[int](calloop.WithNetpoller(on))
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	fdsBefore := countFDs(t)
	base := uint64(time.Now().UnixNano())
	end := time.Now().Add(budget)
	runs := 0
	for i := 0; i < len(seeds) || time.Now().Before(end); i++ {
		seed := base + uint64(i)
		if i < len(seeds) {
			seed = seeds[i]
		}
		opts := []calloop.Option{calloop.WithNetpoller(seed%2 == 0)}
		r := relSeeded{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
		if f := relRun(t, r, 150, opts...); f != "" {
			t.Fatalf("seed %d (netpoller %v; reproduce with RELSTRESS_SEED=%d): %s", seed, seed%2 == 0, seed, f)
		}
		runs++
	}
	if after := countFDs(t); after != fdsBefore {
		t.Fatalf("%d descriptors open before the runs, %d after", fdsBefore, after)
	}
	t.Logf("%d random runs of 150 steps", runs)
}

// TestStressModelFaults is TestStressModel with the poller's control calls
// and waits failing at random: every failed AddFD, ModifyFD, Enable,
// Disable and Remove must return its error and change nothing, a failed
// wait must fail its Dispatch with nothing dispatched, EINTR must be
// invisible, and the model's guarantees hold throughout.
func TestStressModelFaults(t *testing.T) {
	budget := time.Second
	if testing.Short() {
		budget = 200 * time.Millisecond
	}
	f := relInstallFaults(t)
	base := uint64(time.Now().UnixNano())
	if s := relStressSeed(t); s != 0 {
		base, budget = s, 0
	}
	end := time.Now().Add(budget)
	runs := 0
	for i := 0; i == 0 || time.Now().Before(end); i++ {
		seed := base + uint64(i)
		r := relSeeded{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
		f.clear()
		if fail := relRunWith(t, r, 150, f, calloop.WithNetpoller(seed%2 == 0)); fail != "" {
			t.Fatalf("seed %d (netpoller %v; reproduce with RELSTRESS_SEED=%d): %s", seed, seed%2 == 0, seed, fail)
		}
		runs++
	}
	t.Logf("%d random runs of 150 steps with faults", runs)
}

// TestStressModelPanics is TestStressModel with callbacks panicking at
// random: Dispatch propagates the panic, and the loop stays consistent: no
// source runs when it must not, nothing due is lost (it comes in the next
// iteration), the panicking timer is removed.
func TestStressModelPanics(t *testing.T) {
	budget := time.Second
	if testing.Short() {
		budget = 200 * time.Millisecond
	}
	base := uint64(time.Now().UnixNano())
	if s := relStressSeed(t); s != 0 {
		base, budget = s, 0
	}
	end := time.Now().Add(budget)
	runs := 0
	for i := 0; i == 0 || time.Now().Before(end); i++ {
		seed := base + uint64(i)
		r := relSeeded{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
		if fail := relRunModel(t, r, 150, nil, true, calloop.WithNetpoller(seed%2 == 0)); fail != "" {
			t.Fatalf("seed %d (netpoller %v; reproduce with RELSTRESS_SEED=%d): %s", seed, seed%2 == 0, seed, fail)
		}
		runs++
	}
	t.Logf("%d random runs of 150 steps with panics", runs)
}

// FuzzLoopOps drives the same model with the fuzzer's bytes as the choices.
func FuzzLoopOps(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x00\x00\x03\x01\x00\x02\x0c\x00\x0a\x05\x0e\x03\x07\x01\x02"))
	f.Add([]byte{2, 0, 0, 2, 1, 1, 2, 2, 3, 2, 3, 4, 12, 3, 12, 3, 10, 2, 4, 0, 6, 2, 3, 1, 15, 0, 8, 1, 9, 2, 14, 0})
	f.Add([]byte("calloop stress: add remove enable disable re-arm from callbacks"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		r := &relBytes{b: data}
		if f := relRun(t, r, 400, calloop.WithNetpoller(len(data)%2 == 0)); f != "" {
			t.Fatal(f)
		}
	})
}
