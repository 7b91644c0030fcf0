package calloop

import (
	"errors"
	"time"
)

// The combinators of [Flow]. Those that keep the type of the values are
// methods, and chain: f.Filter(ok).Debounce(d).Take(3). Those that change it
// are functions, since methods cannot have type parameters: [MapFlow]
// (named apart from [Map], the futures' combinator), [Batch] and [Merge].

// derive consumes f for a stage and returns the stage's output flow, which
// shares f's pipe; a failure (f unusable, or bad, the argument error) gives
// a flow that fails when consumed.
func derive[S, T, U any](f *Flow[S, T], bad error) (*Flow[S, U], bool) {
	switch {
	case f == nil:
		return &Flow[S, U]{err: errNilFlow}, false
	case f.used:
		return &Flow[S, U]{err: errFlowUsed}, false // the pipe is another consumer's
	}
	f.used = true
	out := mkFlow[S, U](f.p)
	out.err, out.done = f.err, f.done
	if out.err == nil {
		out.err = bad
	}
	return out, out.err == nil
}

// MapFlow returns a flow of fn applied to each value of f. fn runs on the
// loop's goroutine with the loop's *S.
func MapFlow[S, T, U any](f *Flow[S, T], fn func(s *S, v T) U) *Flow[S, U] {
	var bad error
	if fn == nil {
		bad = errors.New("calloop: MapFlow with a nil function")
	}
	out, ok := derive[S, T, U](f, bad)
	if ok {
		out.bind = func(d dst[S, U]) { f.setPush(dst[S, T]{push: mapInto(fn, d), many: mapMany(fn, d)}) }
		f.end = out.finish
	}
	return out
}

// mapInto returns fn followed by d, in one function.
func mapInto[S, T, U any](fn func(*S, T) U, d dst[S, U]) func(*S, T) {
	push, keep, sink, root := d.push, d.keep, d.sink, d.root
	switch {
	case sink != nil && keep != nil:
		return func(s *S, v T) {
			if u := fn(s, v); keep(s, u) && !root.gone {
				sink(s, u, true)
			}
		}
	case sink != nil:
		return func(s *S, v T) {
			if u := fn(s, v); !root.gone {
				sink(s, u, true)
			}
		}
	case keep != nil:
		return func(s *S, v T) {
			if u := fn(s, v); keep(s, u) {
				push(s, u)
			}
		}
	}
	return func(s *S, v T) { push(s, fn(s, v)) }
}

// mapMany is mapInto over a run of values (see dst.batch).
func mapMany[S, T, U any](fn func(*S, T) U, d dst[S, U]) func(*S, []T, *drain) {
	push, keep, sink, root := d.push, d.keep, d.sink, d.root
	switch {
	case sink != nil && keep != nil:
		return func(s *S, vs []T, dr *drain) {
			for i := 0; i < len(vs) && dr.active; i++ {
				dr.done = i + 1
				if u := fn(s, vs[i]); keep(s, u) && !root.gone {
					sink(s, u, true)
				}
			}
		}
	case sink != nil:
		return func(s *S, vs []T, dr *drain) {
			for i := 0; i < len(vs) && dr.active; i++ {
				dr.done = i + 1
				if u := fn(s, vs[i]); !root.gone {
					sink(s, u, true)
				}
			}
		}
	case keep != nil:
		return func(s *S, vs []T, dr *drain) {
			for i := 0; i < len(vs) && dr.active; i++ {
				dr.done = i + 1
				if u := fn(s, vs[i]); keep(s, u) {
					push(s, u)
				}
			}
		}
	}
	return func(s *S, vs []T, dr *drain) {
		for i := 0; i < len(vs) && dr.active; i++ {
			dr.done = i + 1
			push(s, fn(s, vs[i]))
		}
	}
}

// Filter returns a flow of the values of f for which keep returns true.
// keep runs on the loop's goroutine with the loop's *S.
func (f *Flow[S, T]) Filter(keep func(s *S, v T) bool) *Flow[S, T] {
	var bad error
	if keep == nil {
		bad = errors.New("calloop: Filter with a nil function")
	}
	out, ok := derive[S, T, T](f, bad)
	if ok {
		out.bind = func(d dst[S, T]) {
			if d.keep != nil { // a filter already: the two become the next stage
				d = dst[S, T]{push: d.fn()}
			}
			d.keep, d.many = keep, nil
			f.setPush(d)
		}
		f.end = out.finish
	}
	return out
}

type takeStage[S, T any] struct {
	out  *Flow[S, T]
	left int
}

func (st *takeStage[S, T]) push(s *S, v T) {
	if st.left <= 0 {
		return
	}
	st.left--
	if st.left > 0 {
		st.out.push(s, v)
		return
	}
	st.last(s, v)
}

// last pushes the n-th value, then ends the flow. If a later stage or the
// sink panics on the value, the end is left to the pipe's next Process
// (the next iteration, or the pipeline's Enable), so that the flow still
// ends while the panic goes its way.
func (st *takeStage[S, T]) last(s *S, v T) {
	pushed := false
	defer func() {
		if !pushed {
			st.out.p.endLater(st.out.finish)
		}
	}()
	st.out.push(s, v)
	pushed = true
	st.out.finish(s)
}

func (st *takeStage[S, T]) end(s *S) {
	st.left = 0
	st.out.finish(s)
}

// Take returns a flow of the first n values of f, which ends after the
// n-th (or when f ends, if sooner); the pipeline, f's sources included, is
// then removed by the consumer. If a later stage or the consumer panics on
// the n-th value, the panic propagates out of [Loop.Dispatch] as usual and
// the end follows in the next iteration (or when the paused pipeline is
// resumed). Take(0) ends at once: its consumer is told
// in the iteration after it is attached. A negative n is an error.
func (f *Flow[S, T]) Take(n int) *Flow[S, T] {
	var bad error
	if n < 0 {
		bad = errors.New("calloop: Take with a negative count")
	}
	out, ok := derive[S, T, T](f, bad)
	if ok {
		st := &takeStage[S, T]{out: out, left: n}
		f.end = st.end
		f.setPush(dst[S, T]{push: st.push})
		if n == 0 {
			out.done = true
		}
	}
	return out
}

// stageTimer is the loop timer of a stage, a child of the stage's pipe.
// Idle, it waits for a deadline that never comes. The loop removes a timer
// whose callback panicked; the next arm then makes a new one.
type stageTimer[S any] struct {
	p   *pipe[S]
	tok Token
	fn  func(*S, time.Time) TimerAction
}

func (st *stageTimer[S]) init(p *pipe[S], fn func(*S, time.Time) TimerAction) error {
	st.p, st.fn = p, fn
	return st.add()
}

func (st *stageTimer[S]) add() error {
	tok, err := st.p.addTimer(never, st.fn)
	if err != nil {
		return err
	}
	st.tok = tok
	return nil
}

// arm sets the timer to fire d from now.
func (st *stageTimer[S]) arm(d time.Duration) {
	if st.p.l.ResetTimer(st.tok, d) == nil || st.p.gone {
		return
	}
	if st.add() == nil {
		st.p.l.ResetTimer(st.tok, d)
	}
}

// disarm makes the timer idle.
func (st *stageTimer[S]) disarm() { st.p.l.ResetTimer(st.tok, never) }

type debounceStage[S, T any] struct {
	out *Flow[S, T]
	tm  stageTimer[S]
	d   time.Duration
	v   T
	has bool
}

func (st *debounceStage[S, T]) push(_ *S, v T) {
	st.v, st.has = v, true
	st.tm.arm(st.d)
}

func (st *debounceStage[S, T]) fire(s *S, _ time.Time) TimerAction {
	if st.has {
		st.flush(s)
	}
	return Again(never)
}

func (st *debounceStage[S, T]) flush(s *S) {
	var zero T
	v := st.v
	st.v, st.has = zero, false
	st.out.push(s, v)
}

func (st *debounceStage[S, T]) end(s *S) {
	st.tm.disarm()
	if st.has {
		st.flush(s)
	}
	st.out.finish(s)
}

// Debounce returns a flow that lets a value of f through only once f has
// been quiet for d after it: of a burst of values less than d apart, only
// the last comes out, d after it (on a loop timer, so never earlier). When
// f ends, a value still waiting goes out first. Continuous input faster
// than d lets nothing through until it pauses. Debounce(0) keeps the last
// value of each iteration. A negative d is an error.
func (f *Flow[S, T]) Debounce(d time.Duration) *Flow[S, T] {
	var bad error
	if d < 0 {
		bad = errors.New("calloop: Debounce with a negative duration")
	}
	out, ok := derive[S, T, T](f, bad)
	if !ok {
		return out
	}
	st := &debounceStage[S, T]{out: out, d: d}
	if err := st.tm.init(f.p, st.fire); err != nil {
		out.err = err
		return out
	}
	f.end = st.end
	f.setPush(dst[S, T]{push: st.push})
	return out
}

type throttleStage[S, T any] struct {
	out  *Flow[S, T]
	l    *Loop[S]
	d    time.Duration
	last time.Time
	has  bool
}

func (st *throttleStage[S, T]) push(s *S, v T) {
	now := st.l.Now()
	if st.has && now.Sub(st.last) < st.d {
		return
	}
	st.last, st.has = now, true
	st.out.push(s, v)
}

func (st *throttleStage[S, T]) end(s *S) { st.out.finish(s) }

// Throttle returns a flow that lets a value of f through, then drops the
// values that follow it within d: at most one value per d, the first of
// each window (leading edge). Windows are measured on the loop's clock
// ([Loop.Now]), the one its timers use, so no two values come out less
// than d apart; Throttle needs no timer. Throttle(0) lets everything
// through. A negative d is an error. (To keep the last value of a burst
// instead, use [Flow.Debounce].)
func (f *Flow[S, T]) Throttle(d time.Duration) *Flow[S, T] {
	var bad error
	if d < 0 {
		bad = errors.New("calloop: Throttle with a negative duration")
	}
	out, ok := derive[S, T, T](f, bad)
	if ok {
		st := &throttleStage[S, T]{out: out, l: f.p.l, d: d}
		f.end = st.end
		f.setPush(dst[S, T]{push: st.push})
	}
	return out
}

// batchPrealloc bounds the capacity a batch is allocated with up front.
const batchPrealloc = 1024

type batchStage[S, T any] struct {
	out *Flow[S, []T]
	n   int
	d   time.Duration
	buf []T
	tm  stageTimer[S]
}

func (st *batchStage[S, T]) push(s *S, v T) {
	if len(st.buf) == 0 {
		if st.buf == nil && st.n > 0 {
			st.buf = make([]T, 0, min(st.n, batchPrealloc))
		}
		if st.d > 0 {
			st.tm.arm(st.d)
		}
	}
	st.buf = append(st.buf, v)
	if st.n > 0 && len(st.buf) >= st.n {
		st.flush(s)
	}
}

func (st *batchStage[S, T]) flush(s *S) {
	b := st.buf
	st.buf = nil
	if st.d > 0 {
		st.tm.disarm()
	}
	st.out.push(s, b)
}

func (st *batchStage[S, T]) fire(s *S, _ time.Time) TimerAction {
	if len(st.buf) > 0 {
		st.flush(s)
	}
	return Again(never)
}

func (st *batchStage[S, T]) end(s *S) {
	if len(st.buf) > 0 {
		st.flush(s)
	} else if st.d > 0 {
		st.tm.disarm()
	}
	st.out.finish(s)
}

// Batch returns a flow of the values of f gathered into slices: a batch
// goes out when it holds n values (n > 0), or d after its first value (d >
// 0, on a loop timer, so never earlier), whichever comes first; a partial
// batch goes out when f ends. Each batch is a new slice, which the
// consumer may keep. n and d must not be negative, and not both 0.
func Batch[S, T any](f *Flow[S, T], n int, d time.Duration) *Flow[S, []T] {
	var bad error
	if n < 0 || d < 0 || n == 0 && d == 0 {
		bad = errors.New("calloop: Batch needs a count or a duration, neither negative")
	}
	out, ok := derive[S, T, []T](f, bad)
	if !ok {
		return out
	}
	st := &batchStage[S, T]{out: out, n: n, d: d}
	if d > 0 {
		if err := st.tm.init(f.p, st.fire); err != nil {
			out.err = err
			return out
		}
	}
	f.end = st.end
	f.setPush(dst[S, T]{push: st.push})
	return out
}

// mergeStage joins the inputs of Merge; each input pushes through its own
// mergeIn, which knows the input's pipe.
type mergeStage[S, T any] struct {
	out  *Flow[S, T]
	left int
}

type mergeIn[S, T any] struct {
	mg *mergeStage[S, T]
	p  *pipe[S]
}

func (in *mergeIn[S, T]) end(s *S) {
	in.p.l.Remove(in.p.tok) // this input's sources are done
	if in.mg.left--; in.mg.left == 0 {
		in.mg.out.finish(s)
	}
}

// Merge returns a flow of the values of every input, in the order they are
// produced; it ends when every input has ended (an input that ends has its
// sources removed at once, the others go on). The inputs' sources become
// part of the merged flow's pipeline. The inputs must belong to one loop
// and none may be consumed already; otherwise, or with no inputs, the
// result fails when consumed and the inputs are left as they were.
func Merge[S, T any](fs ...*Flow[S, T]) *Flow[S, T] {
	if len(fs) == 0 {
		return &Flow[S, T]{err: errors.New("calloop: Merge of no flows")}
	}
	var l *Loop[S]
	for i, f := range fs {
		switch {
		case f == nil:
			return &Flow[S, T]{err: errNilFlow}
		case f.used:
			return &Flow[S, T]{err: errFlowUsed}
		case f.err != nil:
			return &Flow[S, T]{err: f.err}
		case l == nil:
			l = f.p.l
		case f.p.l != l:
			return &Flow[S, T]{err: errors.New("calloop: Merge of flows of different loops")}
		}
		for _, g := range fs[:i] {
			if g == f {
				return &Flow[S, T]{err: errors.New("calloop: Merge of a flow with itself")}
			}
		}
	}
	out, err := newFlow[S, T](l)
	if err != nil {
		return &Flow[S, T]{err: err}
	}
	mg := &mergeStage[S, T]{out: out}
	for _, f := range fs {
		f.used = true
		if err := out.p.adopt(f.p.tok); err != nil {
			out.err = errors.Join(out.err, err) // f's pipe has another parent (Registrar.Adopt)
			continue
		}
		l.Enable(f.p.tok) // no longer held itself: the merged pipe holds it
		if f.done {
			l.Remove(f.p.tok)
			continue
		}
		mg.left++
		in := &mergeIn[S, T]{mg: mg, p: f.p}
		f.setPush(dst[S, T]{push: func(s *S, v T) { out.push(s, v) }})
		f.end = in.end
	}
	if mg.left == 0 {
		out.done = true
	}
	return out
}
