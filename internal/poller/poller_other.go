//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package poller

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

var errUnsupported = fmt.Errorf("calloop: no poller for %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Poller is a placeholder on systems without epoll or kqueue; New fails.
type Poller struct{}

// New returns an error wrapping errors.ErrUnsupported.
func New() (*Poller, error) { return nil, errUnsupported }

// Fd returns -1.
func (p *Poller) Fd() int { return -1 }

// Add fails.
func (p *Poller) Add(fd int, key uint64, interest Events, mode Mode) error { return errUnsupported }

// Modify fails.
func (p *Poller) Modify(fd int, key uint64, interest Events, mode Mode) error { return errUnsupported }

// Disable fails.
func (p *Poller) Disable(fd int, key uint64) error { return errUnsupported }

// Delete fails.
func (p *Poller) Delete(fd int) error { return errUnsupported }

// Wait fails.
func (p *Poller) Wait(buf []Event, timeout time.Duration) (int, error) { return 0, errUnsupported }

// Block fails.
func (p *Poller) Block(buf []Event, timeout time.Duration) (int, error) { return 0, errUnsupported }

// Wake fails.
func (p *Poller) Wake() error { return errUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// UseNetpoller fails.
func (p *Poller) UseNetpoller() error { return errUnsupported }
