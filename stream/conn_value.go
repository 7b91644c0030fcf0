package stream

import "unsafe"

// ConnKey names a typed value that an application attaches to connections:
// a session, a parser, a user. Declare one key per kind of value, usually
// as a package-level variable, and set and get the value through it:
//
//	var sessionKey = stream.NewConnKey[*Session]("session")
//
//	OnOpen: func(a *App, c *stream.Conn[App]) { sessionKey.Set(c, newSession()) },
//	OnData: func(a *App, c *stream.Conn[App], in []byte) int {
//		sess := sessionKey.Get(c) // a *Session: no type assertion
//		...
//	},
//
// Keys are compared by identity: two keys made by separate calls never see
// each other's values, whatever their names and types, so independent
// packages can attach values to the same connection without a shared
// registry. The methods take a *Conn[S] of any S (through [ValueHolder]),
// must be called on the loop goroutine, like every method of [Conn], and
// panic on a nil connection.
//
// A connection's values stay readable in its OnClose and are dropped when
// OnClose returns (or when the loop is closed); from then on Get returns
// the zero value and Set does nothing. Setting a value whose type is
// pointer-shaped (a pointer, a map, a channel, a function) allocates
// nothing once the connection holds a value for the key; other types are
// boxed at each Set, as in an interface value. Get and Lookup never
// allocate; their cost grows with the number of keys set on the
// connection, which is expected to be a handful.
type ConnKey[T any] struct {
	name string
	_    byte // a key has a size: distinct keys have distinct addresses
}

// NewConnKey returns a new key for values of type T; name describes it in
// String.
func NewConnKey[T any](name string) *ConnKey[T] { return &ConnKey[T]{name: name} }

// String returns the key's name.
func (k *ConnKey[T]) String() string { return k.name }

// ValueHolder is what carries the values of [ConnKey]s: every *Conn[S]
// implements it, and nothing outside this package can.
type ValueHolder interface {
	connValues() *connValues
}

// connValues is the values of a connection: a short list, searched
// linearly.
type connValues struct {
	kv     []connValue
	closed bool // OnClose has returned: values are dropped, Set ignored
}

type connValue struct {
	key unsafe.Pointer // the *ConnKey[T]
	v   any            // a T
}

func (c *Conn[S]) connValues() *connValues { return &c.vals }

func (vs *connValues) find(key unsafe.Pointer) int {
	for i := range vs.kv {
		if vs.kv[i].key == key {
			return i
		}
	}
	return -1
}

// drop forgets every value, for good.
func (vs *connValues) drop() {
	clear(vs.kv)
	vs.kv, vs.closed = nil, true
}

// Set attaches v to connection c under k, replacing the value k held there.
// After c's OnClose has returned it does nothing.
func (k *ConnKey[T]) Set(c ValueHolder, v T) {
	vs := c.connValues()
	if vs.closed {
		return
	}
	key := unsafe.Pointer(k)
	if i := vs.find(key); i >= 0 {
		vs.kv[i].v = v
		return
	}
	vs.kv = append(vs.kv, connValue{key: key, v: v})
}

// Lookup returns the value of k on connection c and true, or the zero
// value and false if none is set.
func (k *ConnKey[T]) Lookup(c ValueHolder) (T, bool) {
	vs := c.connValues()
	if i := vs.find(unsafe.Pointer(k)); i >= 0 {
		v, _ := vs.kv[i].v.(T) // a nil interface value was stored as nil
		return v, true
	}
	var zero T
	return zero, false
}

// Get returns the value of k on connection c, or the zero value of T if
// none is set.
func (k *ConnKey[T]) Get(c ValueHolder) T {
	v, _ := k.Lookup(c)
	return v
}

// Delete removes the value of k from connection c, if it has one.
func (k *ConnKey[T]) Delete(c ValueHolder) {
	vs := c.connValues()
	i := vs.find(unsafe.Pointer(k))
	if i < 0 {
		return
	}
	last := len(vs.kv) - 1
	vs.kv[i] = vs.kv[last]
	vs.kv[last] = connValue{}
	vs.kv = vs.kv[:last]
}
