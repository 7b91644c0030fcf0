//go:build linux

package calloop_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// The stringers of Events, Mode and Action.

func TestStringers(t *testing.T) {
	cases := map[string]fmt.Stringer{
		"Readable|Hangup":         calloop.Readable | calloop.Hangup,
		"Readable|Writable|Error": calloop.Readable | calloop.Writable | calloop.Error,
		"0":                       calloop.Events(0),
		"0x80":                    calloop.Events(0x80),
		"Writable|0x30":           calloop.Writable | 0x30,
		"Level":                   calloop.Level,
		"Edge":                    calloop.Edge,
		"OneShot":                 calloop.OneShot,
		"Mode(9)":                 calloop.Mode(9),
		"Continue":                calloop.Continue,
		"Disable":                 calloop.Disable,
		"Remove":                  calloop.Remove,
		"Action(7)":               calloop.Action(7),
	}
	for want, v := range cases {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	l := newLoop[testState](t)
	tok, err := l.AddIdle(func(*testState) {})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.String(), "source ") || !strings.HasPrefix(tm.String(), "timer ") || tok.String() == tm.String() {
		t.Errorf("token strings %q and %q", tok, tm)
	}
}
