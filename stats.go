package calloop

import (
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a loop's activity, from [Loop.Stats] or
// [StatsReader.Read]. Counters, durations and maxima cover the time since
// the loop was created with [WithStats] (or an option that implies it):
// taking a snapshot changes nothing, so any number of readers (an expvar
// page, a logger, a metrics exporter) can take them independently. The
// Window fields are the maxima since a [StatsReader]'s previous snapshot.
// Durations are measured on the loop's clock: the monotonic clock, or the
// [VirtualClock] given with [WithClock].
type Stats struct {
	Iterations uint64 // iterations begun (a Dispatch call that ran, or one of Run)

	// Callbacks run, by kind of source. A custom source's Process call is
	// one callback, whatever it does (pings, channels, signal watches,
	// nested loops and the futures hub are custom sources).
	FDEvents     uint64 // fd callbacks ([Loop.AddFD])
	SourceEvents uint64 // Process calls of custom sources ([Loop.AddSource])
	TimersFired  uint64 // timer callbacks
	IdlesRun     uint64 // idle callbacks
	Callbacks    uint64 // the sum of the four above

	// CallbackTime is the time spent in callbacks (the part of Busy that
	// is the sources' own work and the loop's dispatch of their events).
	CallbackTime time.Duration

	// Wait is the time spent blocked in the kernel poll; Busy the rest
	// (the iterations' work, polls that do not block, and the owner's code
	// between two dispatches). Busy / (Busy + Wait) is the loop's
	// utilization.
	Wait time.Duration
	Busy time.Duration

	// The loop's queues at the end of the latest iteration.
	Queued int // synthetic events raised for the next iteration
	Idles  int // idle callbacks queued
	Timers int // timers pending (set, enabled, with a finite deadline)

	// MaxCallback is the longest callback since the start. A callback's
	// time includes the loop's own dispatch of its event.
	MaxCallback time.Duration

	// Timer lag: how late timers fired, measured from their deadline to the
	// start of their callback. MaxTimerLag is the largest since the start;
	// TimerLag is the total (TimerLag / TimersFired is the mean).
	MaxTimerLag time.Duration
	TimerLag    time.Duration

	// WindowMaxCallback and WindowMaxTimerLag are MaxCallback and
	// MaxTimerLag over the window of a [StatsReader]: from its previous
	// Read (or its creation) to this one. They are zero in a snapshot from
	// [Loop.Stats], which has no window.
	WindowMaxCallback time.Duration
	WindowMaxTimerLag time.Duration
}

// Utilization is Busy / (Busy + Wait): 0 for an idle loop, 1 for a loop
// that never waits. It is 0 before the first poll.
func (s Stats) Utilization() float64 {
	t := s.Busy + s.Wait
	if t <= 0 {
		return 0
	}
	return float64(s.Busy) / float64(t)
}

// SlowCallback describes a callback that ran for at least the threshold given
// to [WithSlowCallback].
type SlowCallback struct {
	Token    Token         // the source or timer
	Name     string        // its name (see [Loop.SetName]), or kind and token
	Kind     string        // "fd", "source", "timer" or "idle"
	Duration time.Duration // how long the callback ran
}

// SourceStats is the accounting of one source, from [Loop.SourceStats].
type SourceStats struct {
	Token  Token  // the source; the zero Token for the unnamed timers' total
	Name   string // its name (see [Loop.SetName]), or kind and token
	Kind   string // "fd", "source", "timer" or "idle"
	Events uint64 // callbacks run
	Time   time.Duration
	Max    time.Duration // the longest callback
}

// WithStats makes the loop keep the figures [Loop.Stats] reports. They cost
// a clock reading per callback and two per iteration, plus a few atomic
// additions, so they are off by default; without them Stats returns zeros.
func WithStats() Option {
	return func(o *options) { o.stats = true }
}

// WithSourceStats makes the loop account callback time and callback counts
// per source, reported by [Loop.SourceStats]; it implies [WithStats].
func WithSourceStats() Option {
	return func(o *options) { o.stats, o.perSource = true, true }
}

// WithSlowCallback has fn called, on the loop's goroutine right after the
// callback returns, for every callback that ran for threshold or longer
// (a threshold of zero or less reports every callback). fn must not block:
// it delays the loop like any callback, and its own time is not charged to
// anyone. It implies [WithStats]. A nil fn disables the hook.
func WithSlowCallback(threshold time.Duration, fn func(SlowCallback)) Option {
	return func(o *options) {
		o.stats = true
		o.slowAt, o.slowFn = max(int64(threshold), 0), fn
	}
}

// statKind is the kind of a callback, for the counters.
type statKind uint8

const (
	statFD statKind = iota
	statSource
	statTimer
	statIdle
	nStatKinds
)

var statKindNames = [nStatKinds]string{"fd", "source", "timer", "idle"}

// loopStats is the loop's instrumentation. The atomics are written by the
// loop's goroutine and read by Stats from any goroutine; the rest belongs
// to the loop's goroutine.
type loopStats struct {
	iterations atomic.Uint64
	kinds      [nStatKinds]atomic.Uint64
	cbTime     atomic.Int64
	wait, busy atomic.Int64
	queued     atomic.Int64
	idles      atomic.Int64
	timers     atomic.Int64
	maxCB      atomic.Int64
	maxLag     atomic.Int64
	lag        atomic.Int64
	readers    atomic.Pointer[[]*StatsReader] // copied on write; nil: none

	mark    int64 // the clock when the latest callback ended, or the poll returned
	pollEnd int64 // the clock when the previous poll returned
	polled  bool  // pollEnd is set

	slowAt int64
	slowFn func(SlowCallback)

	perSource bool
	src       []srcAcc           // by slot index
	timerAcc  srcAcc             // unnamed timers
	idleAcc   srcAcc             // idle callbacks
	named     map[string]*srcAcc // named timers, by name
}

type srcAcc struct {
	gen    uint32
	events uint64
	total  int64
	max    int64
}

func (a *srcAcc) add(d int64) {
	a.events++
	a.total += d
	if d > a.max {
		a.max = d
	}
}

// Stats returns a snapshot of the loop's figures (see [Stats]); all zero
// unless the loop was created [WithStats]. Safe from any goroutine, without
// locks; the snapshot is not atomic as a whole (a counter may be one
// iteration ahead of another). It resets nothing: the maxima are those
// since the start. For the maxima of a recent window, use a [StatsReader].
func (l *Loop[S]) Stats() Stats { return l.st.snapshot() }

func (st *loopStats) snapshot() Stats {
	if st == nil {
		return Stats{}
	}
	s := Stats{
		Iterations:   st.iterations.Load(),
		FDEvents:     st.kinds[statFD].Load(),
		SourceEvents: st.kinds[statSource].Load(),
		TimersFired:  st.kinds[statTimer].Load(),
		IdlesRun:     st.kinds[statIdle].Load(),
		CallbackTime: time.Duration(st.cbTime.Load()),
		Wait:         time.Duration(st.wait.Load()),
		Busy:         time.Duration(st.busy.Load()),
		Queued:       int(st.queued.Load()),
		Idles:        int(st.idles.Load()),
		Timers:       int(st.timers.Load()),
		MaxCallback:  time.Duration(st.maxCB.Load()),
		MaxTimerLag:  time.Duration(st.maxLag.Load()),
		TimerLag:     time.Duration(st.lag.Load()),
	}
	s.Callbacks = s.FDEvents + s.SourceEvents + s.TimersFired + s.IdlesRun
	return s
}

// StatsReader is one reader of a loop's figures with a window of its own:
// each [StatsReader.Read] reports, besides the loop's [Stats], the longest
// callback and the largest timer lag since the reader's previous Read. Two
// readers (a dashboard polled every second, a logger every minute) never
// take each other's maxima. A reader keeps its previous snapshot, so that
// rates over its window are one subtraction away ([StatsReader.Prev]).
//
// Every method is safe from any goroutine, without locks; a reader is
// meant to be used by one goroutine at a time (two concurrent Reads share
// its window between them). The loop updates every open reader's maxima as
// callbacks end: an atomic load per reader per callback, and a store when
// a maximum grows, no allocation.
type StatsReader struct {
	st     *loopStats
	maxCB  atomic.Int64
	maxLag atomic.Int64
	prev   atomic.Pointer[Stats]
	closed atomic.Bool
}

// NewStatsReader returns a reader of the loop's figures whose first window
// starts now (see [StatsReader]). Without [WithStats] its Reads return
// zeros. Safe from any goroutine; [StatsReader.Close] it when done, or the
// loop keeps updating it until the loop is garbage.
func (l *Loop[S]) NewStatsReader() *StatsReader {
	r := &StatsReader{st: l.st}
	r.prev.Store(&Stats{})
	if st := l.st; st != nil {
		for {
			old := st.readers.Load()
			var n []*StatsReader
			if old != nil {
				n = append(n, *old...)
			}
			n = append(n, r)
			if st.readers.CompareAndSwap(old, &n) {
				break
			}
		}
	}
	return r
}

// Read returns the loop's figures, as [Loop.Stats] does, with the window
// fields set: the longest callback and the largest timer lag since this
// reader's previous Read (or its creation). It starts a new window. After
// Close it still returns the loop's figures, with empty windows.
func (r *StatsReader) Read() Stats {
	// The window first: the loop raises the overall maxima before the
	// readers', so the snapshot's are never below the window's.
	var cb, lag int64
	if r.st != nil {
		cb, lag = r.maxCB.Swap(0), r.maxLag.Swap(0)
	}
	s := r.st.snapshot()
	s.WindowMaxCallback, s.WindowMaxTimerLag = time.Duration(cb), time.Duration(lag)
	c := s
	r.prev.Store(&c)
	return s
}

// Prev returns the snapshot of this reader's previous Read: the start of
// the window the next Read reports (the zero Stats before the first Read).
func (r *StatsReader) Prev() Stats { return *r.prev.Load() }

// Close stops the loop from updating the reader's window. Idempotent.
func (r *StatsReader) Close() {
	st := r.st
	if st == nil || r.closed.Swap(true) {
		return
	}
	for {
		old := st.readers.Load()
		if old == nil {
			return
		}
		n := make([]*StatsReader, 0, len(*old))
		for _, o := range *old {
			if o != r {
				n = append(n, o)
			}
		}
		p := &n
		if len(n) == 0 {
			p = nil
		}
		if st.readers.CompareAndSwap(old, p) {
			return
		}
	}
}

// statsPollStart is called before the poll; it returns the clock reading.
func (l *Loop[S]) statsPollStart() int64 {
	st := l.st
	t := l.clock()
	if st.polled {
		st.busy.Add(t - st.pollEnd)
	}
	return t
}

// statsPollEnd is called after the poll with the clock reading before it,
// or -1 if the poll did not block (it is then part of the busy time).
func (l *Loop[S]) statsPollEnd(start int64) int64 {
	st := l.st
	t := l.clock()
	if start >= 0 {
		st.wait.Add(t - start)
	} else if st.polled {
		st.busy.Add(t - st.pollEnd)
	}
	st.pollEnd, st.polled, st.mark = t, true, t
	return t
}

// statsIterEnd publishes the queue lengths at the end of an iteration.
func (l *Loop[S]) statsIterEnd() {
	st := l.st
	if n := int64(len(l.synthNext)); st.queued.Load() != n {
		st.queued.Store(n)
	}
	if n := int64(len(l.idles)); st.idles.Load() != n {
		st.idles.Store(n)
	}
	if n := int64(l.timers.len()); st.timers.Load() != n {
		st.timers.Store(n)
	}
}

// statsTimerLag records the lateness of a timer about to fire.
func (l *Loop[S]) statsTimerLag(when int64) {
	st := l.st
	d := st.mark - when
	if d < 0 {
		d = 0
	}
	st.lag.Add(d)
	if d > st.maxLag.Load() {
		st.maxLag.Store(d)
	}
	if rs := st.readers.Load(); rs != nil {
		for _, r := range *rs {
			if d > r.maxLag.Load() {
				r.maxLag.Store(d)
			}
		}
	}
}

// statsCallback accounts a callback of source or timer t that just returned.
func (l *Loop[S]) statsCallback(k statKind, t Token) {
	st := l.st
	now := l.clock()
	d := now - st.mark
	st.mark = now
	st.kinds[k].Add(1)
	st.cbTime.Add(d)
	if d > st.maxCB.Load() {
		st.maxCB.Store(d)
	}
	if rs := st.readers.Load(); rs != nil {
		for _, r := range *rs {
			if d > r.maxCB.Load() {
				r.maxCB.Store(d)
			}
		}
	}
	if st.perSource {
		l.charge(st, k, t, d)
	}
	if st.slowFn != nil && d >= st.slowAt {
		st.slowFn(SlowCallback{Token: t, Name: l.nameOf(t, k), Kind: statKindNames[k], Duration: time.Duration(d)})
		st.mark = l.clock() // the hook's time is no one's
	}
}

func (l *Loop[S]) charge(st *loopStats, k statKind, t Token, d int64) {
	if k == statIdle {
		st.idleAcc.add(d) // an idle callback's slot is gone by now
		return
	}
	if t.id&timerBit != 0 {
		if name, ok := l.timerName(t); ok {
			a := st.named[name]
			if a == nil {
				if st.named == nil {
					st.named = make(map[string]*srcAcc)
				}
				a = &srcAcc{}
				st.named[name] = a
			}
			a.add(d)
			return
		}
		st.timerAcc.add(d)
		return
	}
	if int(t.id) >= len(st.src) {
		st.src = append(st.src, make([]srcAcc, int(t.id)+1-len(st.src))...)
	}
	a := &st.src[t.id]
	if a.gen != t.gen {
		*a = srcAcc{gen: t.gen}
	}
	a.add(d)
}

// SourceStats returns the accounting of every live source that ran a
// callback, most time first, when the loop was created [WithSourceStats];
// otherwise nil. Timers are summed up by name: the named ones (see
// [Loop.SetName]) under their name, the others under one entry named
// "timers"; idle callbacks under one entry named "idles". A removed source's figures go with it. Call it on the loop's
// goroutine (from a callback, or between dispatches).
func (l *Loop[S]) SourceStats() []SourceStats {
	st := l.st
	if st == nil || !st.perSource {
		return nil
	}
	var out []SourceStats
	for i := range st.src {
		a := &st.src[i]
		if a.events == 0 || i >= len(l.slots) || l.slots[i].gen != a.gen || l.slots[i].kind == kindFree {
			continue
		}
		t := l.tok(uint32(i), a.gen)
		k := l.kindOf(t)
		out = append(out, SourceStats{Token: t, Name: l.nameOf(t, k), Kind: statKindNames[k], Events: a.events,
			Time: time.Duration(a.total), Max: time.Duration(a.max)})
	}
	if a := st.timerAcc; a.events > 0 {
		out = append(out, SourceStats{Name: "timers", Kind: "timer", Events: a.events,
			Time: time.Duration(a.total), Max: time.Duration(a.max)})
	}
	if a := st.idleAcc; a.events > 0 {
		out = append(out, SourceStats{Name: "idles", Kind: "idle", Events: a.events,
			Time: time.Duration(a.total), Max: time.Duration(a.max)})
	}
	for name, a := range st.named {
		out = append(out, SourceStats{Name: name, Kind: "timer", Events: a.events,
			Time: time.Duration(a.total), Max: time.Duration(a.max)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Time != out[j].Time {
			return out[i].Time > out[j].Time
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// timerName is the entry of a named timer or source.
type timerName struct {
	gen  uint32
	name string
}

// SetName gives source or timer t a name, reported by [Loop.SourceStats]
// and to the [WithSlowCallback] hook instead of its kind and token (an idle
// callback's name is not reported: its registration ends as it runs). An
// empty name restores the default. It fails with [ErrInvalidToken] if t is
// not a live source or timer of this loop. Call it on the loop's goroutine.
func (l *Loop[S]) SetName(t Token, name string) error {
	if l.closed {
		return ErrClosed
	}
	if t.id&timerBit != 0 {
		id, tm, err := l.timer(t)
		if err != nil {
			return err
		}
		if name == "" {
			delete(l.tnames, id)
			return nil
		}
		if l.tnames == nil {
			l.tnames = make(map[uint32]timerName)
		}
		l.tnames[id] = timerName{tm.gen, name}
		return nil
	}
	if l.lookup(t) == nil {
		return ErrInvalidToken
	}
	if name == "" {
		delete(l.snames, t.id)
		return nil
	}
	if l.snames == nil {
		l.snames = make(map[uint32]timerName)
	}
	l.snames[t.id] = timerName{t.gen, name}
	return nil
}

// Name returns the name of source or timer t: the one given with
// [Loop.SetName], or its kind and token ("fd 3.1", "timer 7.2").
func (l *Loop[S]) Name(t Token) (string, error) {
	if l.closed {
		return "", ErrClosed
	}
	if t.id&timerBit != 0 {
		if _, _, err := l.timer(t); err != nil {
			return "", err
		}
	} else if l.lookup(t) == nil {
		return "", ErrInvalidToken
	}
	return l.nameOf(t, l.kindOf(t)), nil
}

func (l *Loop[S]) timerName(t Token) (string, bool) {
	if l.tnames == nil {
		return "", false
	}
	n, ok := l.tnames[t.id&^timerBit]
	if !ok || n.gen != t.gen {
		return "", false
	}
	return n.name, true
}

// nameOf returns the name of t, of kind k, or its default.
func (l *Loop[S]) nameOf(t Token, k statKind) string {
	if t.id&timerBit != 0 {
		if n, ok := l.timerName(t); ok {
			return n
		}
	} else if n, ok := l.snames[t.id]; ok && n.gen == t.gen {
		return n.name
	}
	return statKindNames[k] + " " + strconv.FormatUint(uint64(t.id&^timerBit), 10) + "." + strconv.FormatUint(uint64(t.gen), 10)
}

// kindOf returns the kind of live source or timer t.
func (l *Loop[S]) kindOf(t Token) statKind {
	if t.id&timerBit != 0 {
		return statTimer
	}
	if int(t.id) < len(l.slots) {
		switch l.slots[t.id].kind {
		case kindFD:
			return statFD
		case kindIdle:
			return statIdle
		}
	}
	return statSource
}

// forgetTimerName drops the name of timer id, which is being released.
func (l *Loop[S]) forgetTimerName(id uint32) {
	if l.tnames != nil {
		delete(l.tnames, id)
	}
}
