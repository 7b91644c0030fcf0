//go:build linux && race

package calloop_test

func init() { raceEnabled = true }
