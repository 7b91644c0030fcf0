package main

// timers-cancel: as timers, but every other timer (the odd i) is cancelled
// with Loop.Remove before the loop runs; the remaining N/2 fire. Total wall
// time divided by N. The work is in timers.go.
func timersCancel(n uint64) (result, error) { return timersRun(n, true) }
