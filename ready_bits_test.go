package calloop_test

import (
	"testing"

	"github.com/calloop-go/calloop"
)

type readySrc struct {
	r   *calloop.Registrar
	got []calloop.Events
}

func (s *readySrc) Register(r *calloop.Registrar) error   { s.r = r; return nil }
func (s *readySrc) Unregister(r *calloop.Registrar) error { return nil }
func (s *readySrc) Process(_ *testState, _ uint16, ev calloop.Events) (calloop.Action, error) {
	s.got = append(s.got, ev)
	return calloop.Continue, nil
}

// TestReadyCarriesEvents: Registrar.Ready's doc promises that Process is
// called with sub and ev; every bit of ev reaches Process.
func TestReadyCarriesEvents(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	src := &readySrc{}
	if _, err := l.AddSource(src); err != nil {
		t.Fatal(err)
	}
	want := []calloop.Events{calloop.Readable | 0x80, 0x10, 0xff}
	for _, ev := range want {
		src.r.Ready(1, ev)
	}
	dispatchUntil(t, l, &s, func() bool { return len(src.got) == len(want) })
	for i := range want {
		if src.got[i] != want[i] {
			t.Errorf("Ready(1, %#x) reached Process as %#x", uint8(want[i]), uint8(src.got[i]))
		}
	}
}
