package calloop

import (
	"errors"
	"fmt"
	"io"
)

// Key names a per-loop value (see [Value]). A package that layers on the
// loop declares one key per kind of value it keeps, as a package-level
// variable:
//
//	var engineKey = calloop.NewKey("mypkg.engine")
//
// Keys are compared by identity; the name only appears in error messages.
type Key struct {
	name string
}

// NewKey returns a new key; name describes it in error messages.
func NewKey(name string) *Key { return &Key{name: name} }

// String returns the key's name.
func (k *Key) String() string { return k.name }

type loopValue struct {
	key     *Key
	v       any
	closer  io.Closer // v, if it implements io.Closer
	pending bool      // being created
}

var errNilKey = errors.New("calloop: nil Key")

// Value returns l's value for key, creating it with create on first use: a
// typed place where a package keeps its per-loop state (shared buffers, a
// registry of its sources) instead of a process-global map keyed by the loop.
// The value's type may depend on the loop's state type, so one package-level
// key serves every Loop[S]:
//
//	e, err := calloop.Value(l, engineKey, func() (*engine[S], error) { return newEngine(l) })
//
// If create fails, nothing is stored and its error is returned; a later call
// tries again. Asking for key with a type other than the one its value was
// created with is an error, as is asking for it from inside its own create.
// When the loop closes, after every source was removed, the values that
// implement [io.Closer] are closed, last created first; the loop's methods
// already return [ErrClosed] by then. Call Value on the loop's goroutine.
func Value[S, T any](l *Loop[S], key *Key, create func() (T, error)) (T, error) {
	var zero T
	if key == nil {
		return zero, errNilKey
	}
	if create == nil {
		return zero, fmt.Errorf("calloop: Value %q with a nil create function", key.name)
	}
	if l.closed {
		return zero, ErrClosed
	}
	if v, found, err := lookupValue[T](l, key); found || err != nil {
		return v, err
	}
	l.values = append(l.values, loopValue{key: key, pending: true})
	v, err := create()
	i := l.valueIndex(key)
	if i < 0 { // DeleteValue from inside create
		return zero, fmt.Errorf("calloop: Value %q was deleted while being created", key.name)
	}
	if err != nil || l.closed {
		l.values = append(l.values[:i], l.values[i+1:]...)
		if err == nil {
			err = ErrClosed // create closed the loop
		}
		return zero, err
	}
	lv := &l.values[i]
	lv.v, lv.pending = v, false
	lv.closer, _ = any(v).(io.Closer)
	return v, nil
}

// LookupValue returns l's value for key, if it exists and has type T.
// Call it on the loop's goroutine.
func LookupValue[S, T any](l *Loop[S], key *Key) (T, bool) {
	v, found, err := lookupValue[T](l, key)
	return v, found && err == nil
}

// DeleteValue forgets l's value for key and, if it implements [io.Closer],
// closes it and returns Close's error. Deleting a key that has no value does
// nothing. Call it on the loop's goroutine.
func DeleteValue[S any](l *Loop[S], key *Key) error {
	i := l.valueIndex(key)
	if i < 0 {
		return nil
	}
	lv := l.values[i]
	l.values = append(l.values[:i], l.values[i+1:]...)
	if lv.closer != nil {
		return lv.closer.Close()
	}
	return nil
}

func lookupValue[T any, S any](l *Loop[S], key *Key) (T, bool, error) {
	var zero T
	i := l.valueIndex(key)
	if i < 0 {
		return zero, false, nil
	}
	lv := &l.values[i]
	if lv.pending {
		return zero, false, fmt.Errorf("calloop: Value %q asked for while being created", key.name)
	}
	v, ok := lv.v.(T)
	if !ok {
		return zero, false, fmt.Errorf("calloop: Value %q holds a %T, not a %T", key.name, lv.v, zero)
	}
	return v, true, nil
}

// valueIndex returns the index of key's value in l.values, or -1. A loop
// holds a handful of values; a linear search beats a map.
func (l *Loop[S]) valueIndex(key *Key) int {
	for i := range l.values {
		if l.values[i].key == key {
			return i
		}
	}
	return -1
}

// closeValues closes the loop's values, last created first, when the loop
// closes.
func (l *Loop[S]) closeValues() error {
	var errs []error
	for len(l.values) > 0 {
		n := len(l.values) - 1
		lv := l.values[n]
		l.values = l.values[:n]
		if lv.closer != nil && !lv.pending {
			if err := lv.closer.Close(); err != nil {
				errs = append(errs, fmt.Errorf("calloop: closing Value %q: %w", lv.key.name, err))
			}
		}
	}
	l.values = nil
	return errors.Join(errs...)
}
