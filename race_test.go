//go:build race

package calloop_test

func init() { raceEnabled = true }
