//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"golang.org/x/sys/unix"
)

// tidSource is a custom source that records the OS thread its Removed runs
// on, and whether it left that thread while yielding the processor, again
// and again for up to 200ms, with other goroutines busy: a goroutine not
// locked to its thread soon resumes on another one.
type tidSource struct {
	removedTid atomic.Int64
	moved      atomic.Bool
}

func (*tidSource) Register(*calloop.Registrar) error   { return nil }
func (*tidSource) Unregister(*calloop.Registrar) error { return nil }
func (*tidSource) Process(*testState, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

func (src *tidSource) Removed() {
	tid := unix.Gettid()
	src.removedTid.Store(int64(tid))
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		runtime.Gosched()
		if unix.Gettid() != tid {
			src.moved.Store(true)
			return
		}
	}
}

// TestLockOSThreadCloseFromCallbackStaysOnThread: with WithLockOSThread, a
// Close from a callback during Run removes the sources (their Unregister
// and Removed, user code like any callback) on Run's locked thread, before
// Run lets go of the thread.
func TestLockOSThreadCloseFromCallbackStaysOnThread(t *testing.T) {
	l := newLoop[testState](t, calloop.WithLockOSThread())
	var s testState
	src := &tidSource{}
	if _, err := l.AddSource(src); err != nil {
		t.Fatal(err)
	}
	// Busy goroutines, so that an unlocked goroutine that yields is resumed
	// by another thread.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)
	var cbTid int
	if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		cbTid = unix.Gettid()
		l.Close()
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(context.Background(), &s); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Run after a Close from a callback = %v, want ErrClosed", err)
	}
	if got := src.removedTid.Load(); got == 0 {
		t.Fatal("the source was not removed by the Close")
	} else if got != int64(cbTid) || src.moved.Load() {
		t.Fatalf("Removed ran on thread %d (moved while in it: %v), the callbacks on %d: the thread was no longer locked", got, src.moved.Load(), cbTid)
	}
}
